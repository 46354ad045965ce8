// What of a streamed answer reaches the user's screen before the guard has decided.
#include "gateway/stream_holdback.hpp"

#include <catch2/catch.hpp>

#include <string>

using openclawd::gateway::stream_holdback;

TEST_CASE("stream holdback: nothing is shown before hold_bytes, then text flows", "[holdback]") {
  stream_holdback h(16);
  std::string shown;
  shown += h.push("Hello, ");
  CHECK(shown.empty());
  shown += h.push("world! How are");
  CHECK(shown == "Hello, world! How are");
  shown += h.push(" you?");
  CHECK(shown == "Hello, world! How are you?");
  CHECK(h.finish().empty());
}

TEST_CASE("stream holdback: a short answer comes out whole at the end", "[holdback]") {
  stream_holdback h(128);
  CHECK(h.push("Hello").empty());
  CHECK(h.push(", world!").empty());
  CHECK(h.finish() == "Hello, world!");
}

TEST_CASE("stream holdback: from the first <unusedNN> on, nothing until the end", "[holdback]") {
  stream_holdback h(8);
  std::string shown = h.push("Some good text ");
  CHECK(shown == "Some good text ");
  shown += h.push("<unu");  // may become a special token: held
  CHECK(shown == "Some good text ");
  shown += h.push("sed50>");
  shown += h.push(" and more text after it");
  CHECK(shown == "Some good text ");
  // The guard let it pass (one mention): the rest is shown at the end.
  CHECK(h.finish() == "<unused50> and more text after it");
}

TEST_CASE("stream holdback: a broken model's output is never shown", "[holdback]") {
  stream_holdback h(128);
  std::string shown;
  for (int i = 0; i < 3; ++i) shown += h.push("<unused50>");
  CHECK(shown.empty());  // the guard aborts here; finish() is never called
}

TEST_CASE("stream holdback: a '<' fragment waits for its end, text with '<' flows", "[holdback]") {
  stream_holdback h(4);
  std::string shown = h.push("a < b and ");
  CHECK(shown == "a < b and ");
  shown += h.push("<end_of_tu");
  CHECK(shown == "a < b and ");
  shown += h.push("rn> done");
  CHECK(shown == "a < b and <end_of_turn> done");
}

TEST_CASE("stream holdback: a cut never splits a UTF-8 character", "[holdback]") {
  stream_holdback h(3);
  std::string shown = h.push("ab\xC3");  // the first byte of "é"
  CHECK(shown == "ab");
  shown += h.push("\xA9 <");
  CHECK(shown == "ab\xC3\xA9 ");
  shown += h.finish();
  CHECK(shown == "ab\xC3\xA9 <");
}

TEST_CASE("stream holdback: without the special-token check, <unusedN> is ordinary text", "[holdback]") {
  stream_holdback h(4, false);
  CHECK(h.push("word <unused7> word") == "word <unused7> word");
}

TEST_CASE("stream holdback: reset starts over", "[holdback]") {
  stream_holdback h(4);
  CHECK(h.push("<unused1>").empty());
  h.reset();
  CHECK(h.push("fresh text") == "fresh text");
  CHECK(h.released() == 10);
}
