// A real llama-server run directly by a test (no daemon): spawned on a free loopback
// port with a tiny model, ready when GET /health answers 200, SIGKILLed and reaped by
// the destructor. For tests of the LLM client, the pipeline and the real vocabularies.
// Plus a blocking loopback HTTP helper for llama-server's own endpoints.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/types.h>

namespace openclawd::test {

class llama_process {
 public:
  // `extra` is appended to: -m MODEL -c CTX --host 127.0.0.1 --port PORT -t 1.
  // port 0: a free one. A given port lets a test bring a "restarted" node back where clients expect it.
  llama_process(const std::filesystem::path& model, int ctx, std::vector<std::string> extra = {}, int port = 0);
  ~llama_process();
  llama_process(const llama_process&) = delete;
  llama_process& operator=(const llama_process&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  void kill_now();  // SIGKILL + reap
  const std::filesystem::path& log() const { return log_; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

// Blocking GET on 127.0.0.1:port; the HTTP status, or 0 when nothing answered.
int http_status(int port, const std::string& target);

struct http_reply {
  int status = 0;  // 0: nothing (complete) answered
  std::string body;  // chunked bodies (llama-server's SSE streams) decoded
};
// Blocking POST of `body` (JSON) to 127.0.0.1:port, one connection per request; each read waits
// at most `deadline`.
http_reply http_post(int port, const std::string& target, const std::string& body,
                     std::chrono::seconds deadline = std::chrono::seconds(60));

// A llama-server for (model, ctx, extra), started on first use and kept until the test program
// exits: loading a real 262K-token vocabulary takes about a second, so the sections of a test
// case share one. Not thread-safe (Catch2 runs a program's tests on one thread).
llama_process& shared_llama_server(const std::filesystem::path& model, int ctx, std::vector<std::string> extra = {});

// What became of a llama-server start: ready (GET /health 200; it is then killed), or exited by
// itself first, with its output. For models a server must refuse.
struct llama_start {
  bool ready = false;
  int exit_code = -1;  // when !ready: the exit status, 128 + signal if killed
  std::string log;
};
llama_start try_llama_server(const std::filesystem::path& model, int ctx, std::vector<std::string> extra = {});

}  // namespace openclawd::test
