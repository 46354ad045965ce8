// libFuzzer target: core::sse_parser. The stream is fed whole, in pieces cut at points the
// fuzzer chooses, and (for short inputs) byte by byte; the three parsers must agree on every
// event, on failure, on pings, on retry and on whether the stream ended mid-event. The control
// values (the cuts, an optional small event cap) are taken from the end of the input, so a seed
// that is a plain recorded stream still parses as one.
#include "core/sse.hpp"
#include "fuzz/fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using openclawd::core::sse_event;
using openclawd::core::sse_parser;

namespace {

struct outcome {
  std::vector<sse_event> events;
  bool failed = false;
  std::size_t comments = 0;
  std::optional<std::uint64_t> retry;
  bool mid_event = false;
};

outcome feed_pieces(std::string_view bytes, const std::vector<std::size_t>& cuts, std::size_t cap) {
  sse_parser p(cap);
  outcome o;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    p.feed(bytes.substr(at, cut - at), o.events);
    at = cut;
  }
  p.feed(bytes.substr(at), o.events);
  o.failed = p.failed();
  o.comments = p.comments_seen();
  o.retry = p.retry_ms();
  o.mid_event = p.mid_event();
  return o;
}

bool same_events(const std::vector<sse_event>& a, const std::vector<sse_event>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const sse_event& x, const sse_event& y) {
    return x.event == y.event && x.data == y.data && x.id == y.id;
  });
}

void check_same(const outcome& a, const outcome& b) {
  FUZZ_CHECK(same_events(a.events, b.events));
  FUZZ_CHECK(a.failed == b.failed);
  FUZZ_CHECK(a.comments == b.comments);
  FUZZ_CHECK(a.retry == b.retry);
  FUZZ_CHECK(a.mid_event == b.mid_event);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // A small cap sometimes, so that the failure path is reached; the default otherwise.
  const std::size_t cap = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(0, 300)
                                           : sse_parser::default_max_event_bytes;
  std::vector<std::uint16_t> raw_cuts(in.ConsumeIntegralInRange<std::size_t>(0, 16));
  for (auto& c : raw_cuts) c = in.ConsumeIntegral<std::uint16_t>();
  const std::string stream = in.ConsumeRemainingBytesAsString();

  std::vector<std::size_t> cuts;
  for (auto c : raw_cuts) cuts.push_back(c % (stream.size() + 1));
  std::sort(cuts.begin(), cuts.end());

  const outcome whole = feed_pieces(stream, {}, cap);
  const outcome split = feed_pieces(stream, cuts, cap);
  check_same(whole, split);
  if (stream.size() <= 512) {
    std::vector<std::size_t> every(stream.size());
    for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
    check_same(whole, feed_pieces(stream, every, cap));
  }

  for (const sse_event& ev : whole.events) {
    FUZZ_CHECK(ev.data.size() <= cap);  // the cap bounds what one event may accumulate
    FUZZ_CHECK(!ev.event.empty());      // "message" unless the stream named a type
    FUZZ_CHECK(ev.id.find('\0') == std::string::npos);
  }
  return 0;
}
