// Liveness beyond GET /health: llama-server answers /health with 200 from its HTTP thread even
// when its backend no longer computes (a GPU driver that hangs, an RPC worker that stopped
// answering). A node that has been idle for `idle_after` is asked for a 1-token test completion
// with a deadline; never while a request of its own is in flight (the client's own count), and
// in the orchestrator through a kv_keeper lease, so that the chat whose slot it borrows is
// restored from its file afterwards instead of read again. `failures` failed ones in a row (the
// next ones `retry_after` apart) call on_wedged, which restarts the node.
#pragma once

#include "gateway/kv_keeper.hpp"
#include "gateway/llm_client.hpp"
#include "net/asio.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace openclawd::gateway {

struct work_probe_settings {
  std::chrono::milliseconds idle_after{std::chrono::minutes(5)};  // 0: off
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds retry_after{std::chrono::seconds(5)};  // after a failed one
  int failures = 3;
};

struct work_probe_stats {
  std::uint64_t probes = 0;    // test completions sent
  std::uint64_t failed = 0;    // of them, failed or past the deadline
  std::uint64_t restarts = 0;  // times on_wedged was called
  std::optional<double> last_ms;  // the last successful one, end to end
};

// Whether a test completion is due now: nobody else is asking the node anything, and its
// last exchange (a user's, or the previous probe) ended `idle_after` ago (`retry_after` after
// a failed probe). Pure, for the unit tests.
bool work_probe_due(std::chrono::steady_clock::time_point now, int in_flight,
                    std::chrono::steady_clock::time_point last_done, int failures_in_a_row,
                    const work_probe_settings& s);

class work_probe {
 public:
  using ready_fn = std::function<bool()>;               // the node is ready (a process of ours)
  using wedged_fn = std::function<void(std::string)>;   // restart it, for this reason

  work_probe(asio::any_io_executor ex, std::string node, llm_client& client, kv_keeper* kv,
             work_probe_settings settings, ready_fn ready, wedged_fn on_wedged);
  work_probe(const work_probe&) = delete;
  work_probe& operator=(const work_probe&) = delete;

  // The loop; returns after stop(). Spawn it once.
  asio::awaitable<void> run();
  void stop();
  void reconfigure(work_probe_settings s) { settings_ = s; }
  const work_probe_stats& stats() const noexcept { return stats_; }
  const std::string& node() const noexcept { return node_; }

 private:
  asio::awaitable<bool> probe_once(std::string* why);

  asio::any_io_executor ex_;
  std::string node_;
  llm_client& client_;
  kv_keeper* kv_;
  work_probe_settings settings_;
  ready_fn ready_;
  wedged_fn on_wedged_;
  asio::steady_timer timer_;
  bool stopped_ = false;
  int failures_ = 0;
  work_probe_stats stats_;
};

}  // namespace openclawd::gateway
