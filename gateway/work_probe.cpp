#include "gateway/work_probe.hpp"

#include "core/log.hpp"

#include <algorithm>

namespace openclawd::gateway {

using clock = std::chrono::steady_clock;

bool work_probe_due(clock::time_point now, int in_flight, clock::time_point last_done, int failures_in_a_row,
                    const work_probe_settings& s) {
  if (s.idle_after.count() <= 0 || in_flight > 0) return false;
  const auto wait = failures_in_a_row > 0 ? s.retry_after : s.idle_after;
  return now - last_done >= wait;
}

work_probe::work_probe(asio::any_io_executor ex, std::string node, llm_client& client, kv_keeper* kv,
                       work_probe_settings settings, ready_fn ready, wedged_fn on_wedged)
    : ex_(ex),
      node_(std::move(node)),
      client_(client),
      kv_(kv),
      settings_(settings),
      ready_(std::move(ready)),
      on_wedged_(std::move(on_wedged)),
      timer_(ex) {}

void work_probe::stop() {
  stopped_ = true;
  timer_.cancel();
}

asio::awaitable<bool> work_probe::probe_once(std::string* why) {
  // Borrow a slot the way a chat does: the chat that had it is restored from its file later.
  std::optional<kv_keeper::lease> lease;
  if (kv_ != nullptr) lease = co_await kv_->acquire("(work probe)");
  // A user's request may have arrived while the lease was awaited: theirs goes first.
  if (const auto a = client_.activity(); !a || a->first > 0) co_return true;
  ++stats_.probes;
  const auto t0 = clock::now();
  const auto r = co_await client_.test_completion(lease ? std::optional<int>(lease->slot()) : std::nullopt,
                                                  settings_.timeout);
  if (r) {
    stats_.last_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    co_return true;
  }
  // Not supported (another OpenAI-compatible server): nothing to learn from it, and no failure.
  if (r.error().status == 501 || r.error().status == 404) {
    *why = "";
    co_return true;
  }
  ++stats_.failed;
  *why = r.error().to_string();
  co_return false;
}

asio::awaitable<void> work_probe::run() {
  while (!stopped_) {
    // Checked a few times per idle period; cheap (no request unless one is due).
    const auto tick = std::clamp<std::chrono::milliseconds>(
        std::min(settings_.idle_after, settings_.retry_after) / 4, std::chrono::milliseconds(50), std::chrono::seconds(5));
    timer_.expires_after(settings_.idle_after.count() > 0 ? tick : std::chrono::seconds(5));
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopped_) break;
    if (!ready_()) {
      failures_ = 0;  // a node that restarts starts with a clean record
      continue;
    }
    const auto a = client_.activity();
    if (!a || !work_probe_due(clock::now(), a->first, a->second, failures_, settings_)) continue;
    std::string why;
    if (co_await probe_once(&why)) {
      if (failures_ > 0) core::log_info("health", node_ + ": the test completion works again");
      failures_ = 0;
      continue;
    }
    if (!ready_()) continue;  // it went down meanwhile: the supervisor knows already
    ++failures_;
    core::log_warn("health", node_ + ": 1-token test completion failed (" + std::to_string(failures_) + "/" +
                                 std::to_string(settings_.failures) + "): " + why);
    if (failures_ >= settings_.failures) {
      failures_ = 0;
      ++stats_.restarts;
      on_wedged_("its /health answers, but " + std::to_string(settings_.failures) +
                 " 1-token test completions in a row failed (" + why + "): a wedged backend or a lost RPC worker");
    }
  }
}

}  // namespace openclawd::gateway
