// When DuckDuckGo blocks us, stop asking for a while: a circuit breaker with a pause that
// doubles per block in a row (initial, 2x, 4x ... up to max) and resets on the first
// success. The first query after a pause is the probe: blocked again, the next pause is
// longer. Pure state with the time passed in, so tests need no clock. Owned by web_search,
// used from one thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

namespace openclawd::tools {

class circuit_breaker {
 public:
  using clock = std::chrono::steady_clock;
  using duration = std::chrono::milliseconds;

  circuit_breaker(duration initial, duration max) : initial_(initial), max_(std::max(initial, max)) {}

  // True when a request may go out now (closed, or the pause is over: the probe).
  bool allow(clock::time_point now) const { return now >= open_until_; }

  // How long until allow() turns true; zero when it is.
  duration remaining(clock::time_point now) const {
    return now >= open_until_ ? duration::zero() : std::chrono::ceil<duration>(open_until_ - now);
  }

  // A block: opens for initial * 2^(blocks in a row - 1), at least the server's own
  // Retry-After hint, never more than max. Returns the pause.
  duration record_block(clock::time_point now, std::optional<duration> retry_after = std::nullopt) {
    ++blocks_in_a_row_;
    duration pause = initial_;
    for (int i = 1; i < blocks_in_a_row_ && pause < max_; ++i) pause *= 2;
    if (retry_after && *retry_after > pause) pause = *retry_after;
    pause = std::min(pause, max_);
    open_until_ = now + pause;
    last_pause_ = pause;
    return pause;
  }

  // A normal answer (results or "no results"): the block is over.
  void record_success() {
    blocks_in_a_row_ = 0;
    open_until_ = {};
  }

  int blocks_in_a_row() const { return blocks_in_a_row_; }
  duration last_pause() const { return last_pause_; }

 private:
  duration initial_;
  duration max_;
  int blocks_in_a_row_ = 0;
  clock::time_point open_until_{};
  duration last_pause_{0};
};

}  // namespace openclawd::tools
