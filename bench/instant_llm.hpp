// A loopback stand-in for llama-server that answers at once, so that a benchmark measures the
// gateway and not a model. It serves what the supervisor and the pipeline ask of a node
// (GET /health, /v1/models; POST /tokenize, /apply-template, /v1/chat/completions with and
// without "stream"), in the shapes recorded from the real server
// (shared/docs/llama-server-api.md): the same envelopes, SSE events, `timings` object and
// 503 "Loading model" while set to loading. The decision is always {"action":"answer",...}
// and every answer is "Hello, world!" (as the tiny hello model says).
// Runs on its own thread and io_context, bound to 127.0.0.1:0; every member is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace openclawd::bench {

class instant_llm {
 public:
  explicit instant_llm(std::string model_id = "instant");
  ~instant_llm();  // stops the thread; open connections are closed
  instant_llm(const instant_llm&) = delete;
  instant_llm& operator=(const instant_llm&) = delete;

  unsigned short port() const;
  std::string url() const;  // "http://127.0.0.1:PORT", what a `url:` node names
  // While true every endpoint answers 503 "Loading model", as llama-server does during a load.
  void set_loading(bool loading);
  std::uint64_t requests() const;  // requests answered so far
  // The last 64 requests: when each had been read, and "METHOD /target" (for --trace).
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> recent() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace openclawd::bench
