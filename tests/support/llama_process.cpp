#include "tests/support/llama_process.hpp"

#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace openclawd::test {

int http_status(int port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {};
      if (::recv(fd, buf, sizeof buf - 1, 0) > 12 && std::strncmp(buf, "HTTP/1.1 ", 9) == 0) status = std::atoi(buf + 9);
    }
  }
  ::close(fd);
  return status;
}

namespace {

// Forks llama-server with its output in `log`, in its own process group.
pid_t spawn_llama_server(const std::filesystem::path& model, int ctx, int port, const std::vector<std::string>& extra,
                         const std::filesystem::path& log) {
  const auto server = llama_server_bin();
  std::vector<std::string> args{server.string(), "-m",     model.string(), "-c", std::to_string(ctx), "--host",
                                "127.0.0.1",     "--port", std::to_string(port), "-t", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

std::filesystem::path log_path(int port) {
  return std::filesystem::temp_directory_path() / ("openclawd-llama-" + std::to_string(port) + ".log");
}

}  // namespace

llama_process::llama_process(const std::filesystem::path& model, int ctx, std::vector<std::string> extra, int port) {
  port_ = port != 0 ? port : free_port();
  log_ = log_path(port_);
  pid_ = spawn_llama_server(model, ctx, port_, extra, log_);
  const bool ready = wait_until([&] { return http_status(port_, "/health") == 200; }, deadline_long);
  if (!ready) {
    kill_now();
    FAIL("llama-server on port " << port_ << " did not become ready; see " << log_.string());
  }
}

void llama_process::kill_now() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

llama_process::~llama_process() {
  kill_now();
  std::error_code ec;
  std::filesystem::remove(log_, ec);
}

llama_process& shared_llama_server(const std::filesystem::path& model, int ctx, std::vector<std::string> extra) {
  static std::map<std::string, std::unique_ptr<llama_process>> servers;
  std::string key = model.string() + "\n" + std::to_string(ctx);
  for (const auto& e : extra) key += "\n" + e;
  auto& slot = servers[key];
  if (!slot) slot = std::make_unique<llama_process>(model, ctx, std::move(extra));
  return *slot;
}

llama_start try_llama_server(const std::filesystem::path& model, int ctx, std::vector<std::string> extra) {
  const int port = free_port();
  const auto log = log_path(port);
  const pid_t pid = spawn_llama_server(model, ctx, port, extra, log);
  llama_start result;
  int status = 0;
  bool exited = false;
  wait_until(
      [&] {
        exited = ::waitpid(pid, &status, WNOHANG) == pid;
        result.ready = !exited && http_status(port, "/health") == 200;
        return exited || result.ready;
      },
      deadline_long);
  if (!exited) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  } else {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  result.log = ss.str();
  std::error_code ec;
  std::filesystem::remove(log, ec);
  return result;
}

namespace {

// A socket to 127.0.0.1:port with `deadline` on each read and write; -1 when nothing listens.
int connect_loopback(int port, std::chrono::seconds deadline) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(deadline.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Decodes a chunked body; empty optional when it is cut short.
std::optional<std::string> dechunk(std::string_view in) {
  std::string out;
  for (;;) {
    const auto eol = in.find("\r\n");
    if (eol == std::string_view::npos) return std::nullopt;
    const std::size_t size = std::strtoul(std::string(in.substr(0, eol)).c_str(), nullptr, 16);
    in.remove_prefix(eol + 2);
    if (size == 0) return out;
    if (in.size() < size + 2) return std::nullopt;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

}  // namespace

http_reply http_post(int port, const std::string& target, const std::string& body, std::chrono::seconds deadline) {
  http_reply reply;
  const int fd = connect_loopback(port, deadline);
  if (fd < 0) return reply;
  const std::string req = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  std::string raw;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;  // EOF (Connection: close), or the deadline
      raw.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) return reply;
  std::string head = raw.substr(0, head_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string payload = raw.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    auto decoded = dechunk(payload);
    if (!decoded) return reply;
    payload = std::move(*decoded);
  }
  reply.status = std::atoi(raw.c_str() + 9);
  reply.body = std::move(payload);
  return reply;
}

}  // namespace openclawd::test
