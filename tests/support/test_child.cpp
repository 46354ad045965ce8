// A stand-in for llama-server, only for the faults the real server cannot show on
// demand. It accepts llama-server's command line (-m, -c, --port, ...), serves
// GET /health on 127.0.0.1:<port>, and misbehaves as asked through extra_args:
//   --ignore-sigterm   SIGTERM is ignored, so only the stop ladder's SIGKILL ends it
//   --never-ready      /health answers 503 "Loading model" forever
//   --exit-after-ms N  exits with code 3 after N ms
//   --load-ms N        "loads" for N ms: /health answers 503 meanwhile, and stderr shows
//                      llama.cpp-style phase lines with a progress dot per percent (what a
//                      large model's load looks like to `openclawd start`)
// Blocking sockets and one thread on purpose: it must be obviously correct.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <chrono>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int port = 0;
  bool never_ready = false;
  long exit_after_ms = -1;
  long load_ms = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) port = std::atoi(argv[++i]);
    else if (a == "--ignore-sigterm") std::signal(SIGTERM, SIG_IGN);
    else if (a == "--never-ready") never_ready = true;
    else if (a == "--exit-after-ms" && i + 1 < argc) exit_after_ms = std::atol(argv[++i]);
    else if (a == "--load-ms" && i + 1 < argc) load_ms = std::atol(argv[++i]);
  }
  std::signal(SIGPIPE, SIG_IGN);  // a prober that hangs up must not kill us
  if (port <= 0) {
    std::fprintf(stderr, "test_child: --port is required\n");
    return 2;
  }
  if (exit_after_ms >= 0) {
    std::thread([exit_after_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(exit_after_ms));
      std::fprintf(stderr, "test_child: exiting as asked\n");
      std::_Exit(3);
    }).detach();
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    std::fprintf(stderr, "test_child: couldn't bind port %d: %s\n", port, std::strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "test_child: listening on http://127.0.0.1:%d\n", port);
  const auto loaded_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(load_ms);
  if (load_ms > 0) {
    std::thread([load_ms] {
      std::fprintf(stderr, "0.00.016.608 I srv    load_model: loading model 'test_child'\n");
      std::fprintf(stderr, "0.00.017.000 I load_tensors: loading model tensors, this can take a while...");
      for (int pct = 0; pct < 100; ++pct) {
        std::this_thread::sleep_for(std::chrono::milliseconds(load_ms / 100));
        std::fputc('.', stderr);
        std::fflush(stderr);
      }
      std::fprintf(stderr, "\n0.00.117.092 I srv  llama_server: model loaded\n");
    }).detach();
  }
  for (;;) {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    char buf[4096];
    (void)::recv(c, buf, sizeof buf, 0);
    const bool loading = never_ready || std::chrono::steady_clock::now() < loaded_at;
    const char* body = loading ? R"({"error":{"message":"Loading model","type":"unavailable_error","code":503}})"
                                   : R"({"status":"ok"})";
    const std::string res = std::string(loading ? "HTTP/1.1 503 Service Unavailable" : "HTTP/1.1 200 OK") +
                            "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                            std::to_string(std::strlen(body)) + "\r\n\r\n" + body;
    (void)::send(c, res.data(), res.size(), 0);
    ::close(c);
  }
}
