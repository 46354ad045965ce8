// An incremental parser for Server-Sent Events (WHATWG HTML "event stream interpretation"), for
// llama-server's `stream:true` responses: feed it body bytes as they arrive, in pieces of any size
// split anywhere, and it returns the events those bytes complete. One parser per stream, owned by
// the code reading that stream; not thread-safe (openclawd reads each stream on one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::core {

// One dispatched event. `event` is "message" unless the stream set `event:` (spec default);
// `data` is the `data:` lines joined with '\n'; `id` is the last `id:` seen so far in the
// stream (it persists across events, as the spec says).
struct sse_event {
  std::string event;
  std::string data;
  std::string id;
};

// llama-server's end-of-stream marker, `data: [DONE]`.
bool is_done(const sse_event& ev) noexcept;

class sse_parser {
 public:
  // Bounds the bytes one event may accumulate (its data, its event type, and the line being
  // read, comments included), so a peer that never ends a line or an event cannot grow memory
  // without limit. 4 MiB is far above any llama-server chunk (a token plus a few hundred bytes of
  // JSON; the final chunk with `timings` is under 1 KiB).
  static constexpr std::size_t default_max_event_bytes = std::size_t{4} << 20;

  explicit sse_parser(std::size_t max_event_bytes = default_max_event_bytes);

  // Appends `bytes` and returns the events they complete, in order. Once failed(), returns
  // nothing and ignores its input: the stream is unusable and the caller should drop it.
  std::vector<sse_event> feed(std::string_view bytes);
  // The same, appending to `out` (lets a caller reuse one vector's storage across chunks).
  void feed(std::string_view bytes, std::vector<sse_event>& out);

  // The event size cap was exceeded.
  bool failed() const noexcept { return failed_; }
  // Comment lines seen (`:` first). llama-server writes `:` lines as keep-alive pings while a
  // started stream is quiet, so a caller may count any increase as proof of liveness.
  std::size_t comments_seen() const noexcept { return comments_; }
  // The last valid `retry:` value in milliseconds, if any (llama-server sends none).
  std::optional<std::uint64_t> retry_ms() const noexcept { return retry_ms_; }
  // True when bytes of an unfinished line or event are buffered: a stream that ends now was cut
  // mid-event (the spec discards such an event at end of stream; so does this parser).
  bool mid_event() const noexcept;

 private:
  void consume(std::string_view bytes, std::vector<sse_event>& out);
  void process_line(std::string_view line, std::vector<sse_event>& out);
  void fail() noexcept;
  bool over_cap(std::size_t line_bytes) const noexcept;

  std::size_t max_event_bytes_;
  std::string line_;        // an unfinished line carried over from the previous feed
  std::string data_;        // the data buffer: each `data:` value followed by '\n'
  std::string event_type_;  // the event type buffer
  std::string last_id_;     // the last event ID buffer (persists across events)
  std::optional<std::uint64_t> retry_ms_;
  std::size_t comments_ = 0;
  std::size_t bom_matched_ = 0;  // bytes of a leading UTF-8 BOM matched so far
  bool at_start_ = true;         // still deciding whether the stream starts with a BOM
  bool skip_lf_ = false;         // the previous byte was a CR ending a line: a following LF is part of it
  bool failed_ = false;
};

}  // namespace openclawd::core
