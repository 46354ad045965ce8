// A real llama-server run directly by a test (no daemon): spawned on a free loopback
// port with a tiny model, ready when GET /health answers 200, SIGKILLed and reaped by
// the destructor. For tests of the LLM client and the pipeline.
#pragma once

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

}  // namespace openclawd::test
