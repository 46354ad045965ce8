#include "tests/support/ports.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

namespace openclawd::test {
namespace {

// The range the kernel takes the local port of every outgoing connection from.
std::pair<int, int> ephemeral_ports() {
#if defined(__linux__)
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 0, hi = 0;
  if (in >> lo >> hi && lo > 0 && hi >= lo) return {lo, hi};
  return {32768, 60999};
#else
  return {49152, 65535};  // IANA's dynamic range, the BSD and macOS default
#endif
}

// Nobody has 127.0.0.1:port bound: no listener, no connection from it, no TIME_WAIT (a bind
// without SO_REUSEADDR fails on any of them).
bool unbound(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::optional<int> claim_loopback_port(std::string* why) {
  static std::mutex m;
  static std::mt19937 rng{std::random_device{}()};
  const std::lock_guard lock(m);
  const auto [eph_lo, eph_hi] = ephemeral_ports();
  // Below the ephemeral range when there is room, else above it.
  const bool below = eph_lo - 10000 >= 1024;
  const int lo = below ? 10000 : eph_hi + 1;
  const int hi = below ? eph_lo - 1 : 65535;
  if (hi - lo < 1000) {
    if (why) *why = "the ephemeral range leaves fewer than 1000 ports outside it";
    return std::nullopt;
  }
  std::uniform_int_distribution<int> pick(lo, hi);

  // Shared by every user's runs, hence world-writable with the sticky bit, like /tmp. The
  // files stay (at most one per port): unlinking a lock file others may hold would let two
  // processes lock two different files of the same name.
  std::error_code ec;
  const auto dir = std::filesystem::temp_directory_path(ec) / "openclawd-test-ports";
  if (std::filesystem::create_directory(dir, ec))
    std::filesystem::permissions(dir, std::filesystem::perms::all | std::filesystem::perms::sticky_bit, ec);

  for (int attempt = 0; attempt < 2000; ++attempt) {
    const int port = pick(rng);
    // Without the folder (or a file another user made unreadable), the bind check alone.
    const int fd = ::open((dir / std::to_string(port)).c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      continue;  // another process's
    }
    if (!unbound(port)) {
      if (fd >= 0) ::close(fd);
      continue;
    }
    return port;  // fd stays open: the claim lasts until this process exits
  }
  if (why) *why = "no free port in 127.0.0.1:" + std::to_string(lo) + "-" + std::to_string(hi) + " after 2000 tries";
  return std::nullopt;
}

}  // namespace openclawd::test
