#include "tests/support/llama_process.hpp"

#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>

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

llama_process::llama_process(const std::filesystem::path& model, int ctx, std::vector<std::string> extra, int port) {
  const auto server = llama_server_bin();
  port_ = port != 0 ? port : free_port();
  log_ = std::filesystem::temp_directory_path() / ("openclawd-llama-" + std::to_string(port_) + ".log");
  std::vector<std::string> args{server.string(), "-m",     model.string(), "-c", std::to_string(ctx), "--host",
                                "127.0.0.1",     "--port", std::to_string(port_), "-t", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::setpgid(0, 0);
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
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

}  // namespace openclawd::test
