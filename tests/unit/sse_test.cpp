// core/sse: the parser against llama-server's recorded streams (llama-server-api.md §4.3, §7.2,
// §7.3) fed whole, byte by byte and split at every point; the WHATWG spec's corner cases; pings;
// and the event size cap.
#include "core/sse.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace openclawd::core;
using namespace std::string_literals;

namespace {

// Recorded bytes, verbatim from the shared docs (llama-server-api.md §4.3, §7.2 and §7.3).
const std::string hello_stream =
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1795485423,"id":"chatcmpl-PtQQBENDJBJzjxj8rvhFxdxrfIJbcE2A","model":"hello-alias2","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1795485423,"id":"chatcmpl-PtQQBENDJBJzjxj8rvhFxdxrfIJbcE2A","model":"hello-alias2","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":","}}],"created":1795485423,"id":"chatcmpl-PtQQBENDJBJzjxj8rvhFxdxrfIJbcE2A","model":"hello-alias2","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":" world"}}],"created":1795485423,"id":"chatcmpl-PtQQBENDJBJzjxj8rvhFxdxrfIJbcE2A","model":"hello-alias2","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"!"}}],"created":1795485423,"id":"chatcmpl-PtQQBENDJBJzjxj8rvhFxdxrfIJbcE2A","model":"hello-alias2","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1795485423,"id":"chatcmpl-PtQQBENDJBJzjxj8rvhFxdxrfIJbcE2A","model":"hello-alias2","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk","timings":{"cache_n":10,"prompt_n":1,"prompt_ms":0.762,"prompt_per_token_ms":0.762,"prompt_per_second":1312.3359580052493,"predicted_n":5,"predicted_ms":1.549,"predicted_per_token_ms":0.30979999999999996,"predicted_per_second":3227.888960619755}})sse" "\n\n"
    R"sse(data: [DONE])sse" "\n\n";

const std::string error_stream =
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1795485558,"id":"chatcmpl-csBKJOigzu8tmy0sbw43MB4aeywozdOI","model":"models/tiny-badutf8.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Hello"}}],"created":1795485558,"id":"chatcmpl-csBKJOigzu8tmy0sbw43MB4aeywozdOI","model":"models/tiny-badutf8.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"error":{"code":500,"message":"The model produced output that does not match the expected peg-native format","type":"server_error"}})sse" "\n\n";

const std::string unused50_stream =
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1795485445,"id":"chatcmpl-7yxIlvkEUjQvS87SRJSMFoFOF1bbQxyg","model":"models/tiny-unused50.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"<unused50>"}}],"created":1795485445,"id":"chatcmpl-7yxIlvkEUjQvS87SRJSMFoFOF1bbQxyg","model":"models/tiny-unused50.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"<unused50>"}}],"created":1795485445,"id":"chatcmpl-7yxIlvkEUjQvS87SRJSMFoFOF1bbQxyg","model":"models/tiny-unused50.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"<unused50>"}}],"created":1795485445,"id":"chatcmpl-7yxIlvkEUjQvS87SRJSMFoFOF1bbQxyg","model":"models/tiny-unused50.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk"})sse" "\n\n"
    R"sse(data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1795485445,"id":"chatcmpl-7yxIlvkEUjQvS87SRJSMFoFOF1bbQxyg","model":"models/tiny-unused50.gguf","system_fingerprint":"b9928-81ff7abe5","object":"chat.completion.chunk","timings":{"cache_n":10,"prompt_n":1,"prompt_ms":1.813,"prompt_per_token_ms":1.813,"prompt_per_second":551.5719801434087,"predicted_n":3,"predicted_ms":1.0,"predicted_per_token_ms":0.3333333333333333,"predicted_per_second":3000.0}})sse" "\n\n"
    R"sse(data: [DONE])sse" "\n\n";

std::vector<sse_event> feed_all(std::string_view bytes, std::size_t cap = sse_parser::default_max_event_bytes) {
  sse_parser p(cap);
  return p.feed(bytes);
}

std::vector<sse_event> feed_in_pieces(std::string_view bytes, const std::vector<std::size_t>& cuts) {
  sse_parser p;
  std::vector<sse_event> out;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    p.feed(bytes.substr(at, cut - at), out);
    at = cut;
  }
  p.feed(bytes.substr(at), out);
  return out;
}

std::vector<sse_event> feed_bytewise(std::string_view bytes) {
  sse_parser p;
  std::vector<sse_event> out;
  for (char c : bytes) p.feed(std::string_view(&c, 1), out);
  return out;
}

bool same(const std::vector<sse_event>& a, const std::vector<sse_event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  }
  return true;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t pos; (pos = s.find(from, at)) != std::string::npos; at = pos + from.size()) {
    out.append(s, at, pos - at);
    out.append(to);
  }
  out.append(s, at);
  return out;
}

// Every way to cut `bytes` in two gives the same events as feeding it whole.
void check_all_two_way_splits(const std::string& bytes, const std::vector<sse_event>& expected) {
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    const auto got = feed_in_pieces(bytes, {cut});
    if (!same(got, expected)) {
      FAIL("split at byte " << cut << " of " << bytes.size() << " gave " << got.size() << " events");
    }
  }
}

}  // namespace

TEST_CASE("sse_parser: llama-server's recorded stream fed whole", "[sse]") {
  const auto events = feed_all(hello_stream);
  REQUIRE(events.size() == 7);
  for (const auto& ev : events) {
    CHECK(ev.event == "message");
    CHECK(ev.id.empty());
  }
  CHECK(events[0].data.rfind(R"({"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant")", 0) == 0);
  CHECK(events[1].data.find(R"("delta":{"content":"Hello"})") != std::string::npos);
  CHECK(events[3].data.find(R"("delta":{"content":" world"})") != std::string::npos);
  CHECK(events[5].data.find(R"("timings":{"cache_n":10)") != std::string::npos);
  CHECK(events[5].data.back() == '}');  // no trailing newline from the blank line
  CHECK(is_done(events[6]));
  for (std::size_t i = 0; i < 6; ++i) CHECK_FALSE(is_done(events[i]));
}

TEST_CASE("sse_parser: the recorded stream byte by byte and at every split point", "[sse]") {
  const auto whole = feed_all(hello_stream);
  REQUIRE(whole.size() == 7);
  CHECK(same(feed_bytewise(hello_stream), whole));
  check_all_two_way_splits(hello_stream, whole);
}

TEST_CASE("sse_parser: CRLF and CR line endings give the same events at every split", "[sse]") {
  const auto whole = feed_all(hello_stream);
  const std::string crlf = replace_all(hello_stream, "\n", "\r\n");
  const std::string cr = replace_all(hello_stream, "\n", "\r");
  CHECK(same(feed_all(crlf), whole));
  CHECK(same(feed_all(cr), whole));
  CHECK(same(feed_bytewise(crlf), whole));
  CHECK(same(feed_bytewise(cr), whole));
  check_all_two_way_splits(crlf, whole);  // includes every cut between a \r and its \n
  check_all_two_way_splits(cr, whole);
}

TEST_CASE("sse_parser: random multi-way splits of the recorded streams", "[sse]") {
  std::mt19937 rng(12345);
  for (const std::string* stream : {&hello_stream, &unused50_stream, &error_stream}) {
    const auto whole = feed_all(*stream);
    for (int round = 0; round < 300; ++round) {
      std::vector<std::size_t> cuts;
      std::size_t at = 0;
      while (true) {
        at += std::uniform_int_distribution<std::size_t>(0, 40)(rng);
        if (at >= stream->size()) break;
        cuts.push_back(at);
      }
      REQUIRE(same(feed_in_pieces(*stream, cuts), whole));
    }
  }
}

TEST_CASE("sse_parser: the endless <unused50> stream decodes like any other", "[sse]") {
  const auto events = feed_all(unused50_stream);
  REQUIRE(events.size() == 6);
  for (int i = 1; i <= 3; ++i) CHECK(events[i].data.find(R"("content":"<unused50>")") != std::string::npos);
  CHECK(events[4].data.find(R"("finish_reason":"length")") != std::string::npos);
  CHECK(is_done(events[5]));
}

TEST_CASE("sse_parser: an error event after a 200 arrives as data, with no [DONE]", "[sse]") {
  sse_parser p;
  const auto events = p.feed(error_stream);
  REQUIRE(events.size() == 3);
  CHECK(events[1].data.find(R"("content":"Hello")") != std::string::npos);
  CHECK(events[2].data.rfind(R"({"error":{"code":500,)", 0) == 0);
  CHECK(events[2].data.find("peg-native format") != std::string::npos);
  for (const auto& ev : events) CHECK_FALSE(is_done(ev));
  CHECK_FALSE(p.mid_event());  // the stream ended cleanly after the error event
  CHECK_FALSE(p.failed());
}

TEST_CASE("sse_parser: pings are counted as comments and produce no event", "[sse]") {
  sse_parser p;
  std::vector<sse_event> out;
  // llama-server's keep-alive is a bare ":" line; other servers write ": ping".
  p.feed(":\n\n", out);
  CHECK(out.empty());
  CHECK(p.comments_seen() == 1);
  p.feed(": ping\n\ndata: x\n", out);
  CHECK(out.empty());
  CHECK(p.comments_seen() == 2);
  // A ping in the middle of an event does not end it.
  p.feed(":\ndata: y\n\n", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].data == "x\ny");
  CHECK(p.comments_seen() == 3);
  // A ping split across feeds counts once, when its line ends.
  p.feed(": pi", out);
  CHECK(p.comments_seen() == 3);
  p.feed("ng\r", out);
  CHECK(p.comments_seen() == 4);
  p.feed("\n\r\n", out);
  CHECK(p.comments_seen() == 4);
  CHECK(out.size() == 1);
}

TEST_CASE("sse_parser: pings between llama-server events at every split", "[sse]") {
  const std::string with_pings = ":\n\n" + replace_all(hello_stream, "}\n\n", "}\n\n: ping\n\n") + ":\n\n";
  const auto expected = feed_all(hello_stream);
  CHECK(same(feed_all(with_pings), expected));
  check_all_two_way_splits(with_pings, expected);
  sse_parser p;
  p.feed(with_pings);
  CHECK(p.comments_seen() == 8);
}

TEST_CASE("sse_parser: multi-line data is joined with newlines (spec example)", "[sse]") {
  const auto events = feed_all("data: YHOO\ndata: +2\ndata: 10\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "YHOO\n+2\n10");
}

TEST_CASE("sse_parser: a field without a colon and empty data lines (spec example)", "[sse]") {
  sse_parser p;
  const auto events = p.feed("data\n\ndata\ndata\n\ndata:");
  REQUIRE(events.size() == 2);
  CHECK(events[0].data.empty());
  CHECK(events[1].data == "\n");
  CHECK(p.mid_event());  // the last "data:" has no blank line after it: never dispatched
  CHECK(p.feed("").empty());
}

TEST_CASE("sse_parser: one leading space is removed from a value, no more", "[sse]") {
  const auto events = feed_all("data:test\n\ndata: test\n\ndata:  test\n\n");
  REQUIRE(events.size() == 3);
  CHECK(events[0].data == "test");
  CHECK(events[1].data == "test");
  CHECK(events[2].data == " test");
}

TEST_CASE("sse_parser: event types reset after each event, ids persist", "[sse]") {
  const auto events = feed_all(
      "event: add\nid: 1\ndata: a\n\n"
      "data: b\n\n"
      "event: remove\nid\ndata: c\n\n"
      "id: 7\0x\ndata: d\n\n"
      "id: 9\n: comment: with colon\nfoo: bar\ndata: e\n\n"s);
  REQUIRE(events.size() == 5);
  CHECK(events[0].event == "add");
  CHECK(events[0].id == "1");
  CHECK(events[1].event == "message");
  CHECK(events[1].id == "1");
  CHECK(events[2].event == "remove");
  CHECK(events[2].id.empty());  // "id" with no value resets the last event id
  CHECK(events[3].id.empty());  // an id containing NUL is ignored
  CHECK(events[3].data == "d");
  CHECK(events[4].id == "9");
  CHECK(events[4].data == "e");
}

TEST_CASE("sse_parser: an event with no data is not dispatched and its type is dropped", "[sse]") {
  const auto events = feed_all("event: x\n\ndata: y\n\n\n\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].event == "message");
  CHECK(events[0].data == "y");
}

TEST_CASE("sse_parser: retry takes only ASCII digits", "[sse]") {
  sse_parser p;
  p.feed("retry: 1500\n");
  REQUIRE(p.retry_ms().has_value());
  CHECK(*p.retry_ms() == 1500);
  p.feed("retry: 12a\nretry:\nretry: -5\n");
  CHECK(*p.retry_ms() == 1500);
  p.feed("retry: 99999999999999999999999999\n");
  CHECK(*p.retry_ms() == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("sse_parser: a leading BOM is stripped, even split across feeds", "[sse]") {
  const std::string bom = "\xEF\xBB\xBF";
  CHECK(same(feed_all(bom + hello_stream), feed_all(hello_stream)));
  check_all_two_way_splits(bom + hello_stream, feed_all(hello_stream));
  CHECK(same(feed_bytewise(bom + hello_stream), feed_all(hello_stream)));

  // Only one BOM, and only at the start: a second one is part of the field name.
  const auto twice = feed_all(bom + bom + "data: x\n\n");
  CHECK(twice.empty());
  const auto inside = feed_all("data: " + bom + "x\n\n");
  REQUIRE(inside.size() == 1);
  CHECK(inside[0].data == bom + "x");

  // A BOM prefix that turns out to be something else is kept as content.
  sse_parser p;
  std::vector<sse_event> out;
  p.feed("\xEF", out);
  p.feed("\xBB", out);
  CHECK(p.mid_event());
  p.feed("x: 1\ndata: \xEF\xBB\n\n", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].data == "\xEF\xBB");
}

TEST_CASE("sse_parser: a UTF-8 sequence split across feeds arrives intact", "[sse]") {
  const std::string text = "data: {\"content\":\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"}\n\n";
  const auto whole = feed_all(text);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].data == "{\"content\":\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"}");
  check_all_two_way_splits(text, whole);
  CHECK(same(feed_bytewise(text), whole));
}

TEST_CASE("sse_parser: mixed line endings, and CR then LF across feeds is one line end", "[sse]") {
  const auto events = feed_all("data: a\r\ndata: b\rdata: c\n\r\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "a\nb\nc");

  sse_parser p;
  std::vector<sse_event> out;
  p.feed("data: a\r", out);
  p.feed("\n", out);  // completes the CRLF: not an empty line
  CHECK(out.empty());
  p.feed("\r", out);  // an empty line: dispatch
  REQUIRE(out.size() == 1);
  p.feed("\n", out);  // the LF of that CRLF, not a second blank line
  p.feed("\r\r", out);  // two empty lines: nothing to dispatch
  CHECK(out.size() == 1);
  CHECK(out[0].data == "a");
}

TEST_CASE("sse_parser: an oversized event fails the parser instead of growing", "[sse]") {
  SECTION("one long data line") {
    sse_parser p(1024);
    const auto ok = p.feed("data: " + std::string(1000, 'x') + "\n\n");
    REQUIRE(ok.size() == 1);  // under the cap
    CHECK_FALSE(p.failed());
    CHECK(p.feed("data: " + std::string(1100, 'x') + "\n\n").empty());
    CHECK(p.failed());
    CHECK(p.feed("data: later\n\n").empty());  // stays failed
    CHECK(p.failed());
  }
  SECTION("a line that never ends, fed in small pieces") {
    sse_parser p(4096);
    std::vector<sse_event> out;
    const std::string piece(100, 'y');
    for (int i = 0; i < 100 && !p.failed(); ++i) p.feed(piece, out);
    CHECK(p.failed());
    CHECK(out.empty());
  }
  SECTION("many small data lines adding up") {
    sse_parser p(4096);
    std::vector<sse_event> out;
    for (int i = 0; i < 1000 && !p.failed(); ++i) p.feed("data: 0123456789\n", out);
    CHECK(p.failed());
    CHECK(out.empty());
  }
  SECTION("an endless comment") {
    sse_parser p(4096);
    p.feed(":");
    for (int i = 0; i < 100 && !p.failed(); ++i) p.feed(std::string(100, 'z'));
    CHECK(p.failed());
  }
  SECTION("the cap is per event, not per stream") {
    sse_parser p(256);
    std::size_t n = 0;
    for (int i = 0; i < 1000; ++i) n += p.feed("data: " + std::string(200, 'x') + "\n\n").size();
    CHECK(n == 1000);
    CHECK_FALSE(p.failed());
  }
  SECTION("the default cap accepts llama-server's largest chunks") {
    CHECK(sse_parser::default_max_event_bytes == std::size_t{4} << 20);
    sse_parser p;
    const auto events = p.feed("data: " + std::string(std::size_t{1} << 20, 'x') + "\n\n");
    CHECK(events.size() == 1);
  }
}

// Found by fuzz/fuzz_sse (corpus/sse/regression_bom_then_fail.bin): a partial BOM that turns
// out to be content is consumed first, and a failure there used to let the rest of the same
// chunk be parsed by the failed parser.
TEST_CASE("sse_parser: failing on the bytes of a partial BOM ignores the rest of the chunk", "[sse]") {
  sse_parser p(1);  // the two BOM bytes alone exceed it
  CHECK(p.feed("\xEF\xBB:\n:\ndata\n\n").empty());
  CHECK(p.failed());
  CHECK(p.comments_seen() == 0);
  CHECK_FALSE(p.mid_event());
}

TEST_CASE("sse_parser: the vector-filling feed appends", "[sse]") {
  sse_parser p;
  std::vector<sse_event> out;
  p.feed("data: 1\n\n", out);
  p.feed("data: 2\n\ndata: [DONE]\n\n", out);
  REQUIRE(out.size() == 3);
  CHECK(out[0].data == "1");
  CHECK(out[1].data == "2");
  CHECK(is_done(out[2]));
}
