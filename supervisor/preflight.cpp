#include "supervisor/preflight.hpp"

#include "core/gguf.hpp"
#include "supervisor/os.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace openclawd::supervisor {

std::optional<std::string> port_unavailable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("cannot create a socket: ") + std::strerror(errno);
  // SO_REUSEADDR like llama-server's own HTTP server: a port in TIME_WAIT is usable,
  // a port somebody listens on is not.
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::optional<std::string> problem;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) problem = std::strerror(errno);
  ::close(fd);
  return problem;
}

std::vector<std::string> check_ports(const core::config& cfg) {
  std::vector<std::string> problems;
  for (const auto& n : cfg.nodes) {
    if (auto why = port_unavailable(n.port)) {
      problems.push_back("port " + std::to_string(n.port) + " of node " + n.name + " (nodes." + n.name +
                         ".port in " + cfg.source.string() + ") is already in use by another program (" + *why +
                         "); stop that program or choose another port");
    }
  }
  return problems;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

memory_report estimate_memory(const core::config& cfg) {
  memory_report r;
  r.physical_bytes = os::physical_memory_bytes();
  r.available_bytes = os::available_memory_bytes();
  std::uint64_t total = 0;
  for (const auto& n : cfg.nodes) {
    memory_estimate e;
    e.node = n.name;
    std::error_code ec;
    e.weights_bytes = std::filesystem::file_size(n.model, ec);
    if (ec) e.weights_bytes = 0;
    if (auto info = core::read_gguf_info(n.model)) {
      e.kv_cache_bytes = core::estimate_kv_cache_bytes(*info, n.ctx);
      e.kv_known = true;
    }
    total += e.total();
    r.nodes.push_back(e);
  }
  if (r.physical_bytes && total > *r.physical_bytes * 9 / 10) {
    r.warnings.push_back("the models need about " + format_bytes(total) + " (weights + KV cache for ctx) but this machine has " +
                         format_bytes(*r.physical_bytes) +
                         " of RAM: expect heavy swapping or an out-of-memory kill; lower ctx or use smaller quantizations");
  } else if (r.available_bytes && total > *r.available_bytes) {
    r.warnings.push_back("the models need about " + format_bytes(total) + " but only " + format_bytes(*r.available_bytes) +
                         " of RAM is available now: other programs may be swapped out");
  }
  return r;
}

}  // namespace openclawd::supervisor
