// What of a streamed answer may be shown yet. The degeneration guard needs to see some output
// before it can tell a broken model from a good one (three `<unused50>` are 30 bytes); until
// then nothing reaches the user's screen, so a broken export shows nothing and the fallback's
// answer is the first text the user sees. After that, text flows with a small lag:
//  - the first `hold_bytes` bytes are held;
//  - a trailing '<' fragment that may still become a special token is held until it closes;
//  - from the first `<unusedNN>` on, everything is held until the end of the stream, when the
//    guard has decided (a model may mention one such token legitimately: it is shown then).
// Pure; one per stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace openclawd::gateway {

class stream_holdback {
 public:
  // `special_tokens`: hold from the first `<unusedNN>` on (the guard looks for them; with a
  // configuration that does not, they are ordinary text).
  explicit stream_holdback(std::size_t hold_bytes = 128, bool special_tokens = true)
      : hold_bytes_(hold_bytes), special_tokens_(special_tokens) {}

  // Takes the next piece; returns what may be shown now (possibly empty).
  std::string push(std::string_view piece);
  // The stream ended and the guard passed it: the rest.
  std::string finish();
  // Forget everything (the answer is being produced again).
  void reset();

  std::size_t released() const noexcept { return released_; }

 private:
  std::size_t hold_bytes_;
  bool special_tokens_;
  std::string pending_;  // received, not yet shown
  std::size_t released_ = 0;
  bool frozen_ = false;  // a special token appeared: nothing more until finish()
};

}  // namespace openclawd::gateway
