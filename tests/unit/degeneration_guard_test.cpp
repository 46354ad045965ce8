// gateway/degeneration_guard: the <unused50> model caught within a few tokens, short cycles and
// repeated lines caught, caps, and no verdict on normal prose, code, tables and long lists fed
// in small random pieces. Also the throughput of the per-byte checks (measured, not asserted
// beyond a generous bound) and the logit_bias helper.
#include "gateway/degeneration_guard.hpp"

#include "core/sse.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace openclawd::gateway;
using nlohmann::json;

namespace {

// Feeds `text` in pieces of 1..max_piece bytes; returns the bytes fed when the guard aborted
// (or text.size() if it never did).
std::size_t feed_pieces(degeneration_guard& g, std::string_view text, std::uint32_t seed = 1, std::size_t max_piece = 10) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> len(1, max_piece);
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t n = std::min(len(rng), text.size() - at);
    at += n;
    if (g.feed(text.substr(at - n, n)).abort()) return at;
  }
  return at;
}

const std::vector<std::string_view> words = {
    "the",      "model",   "answer",  "a",        "of",     "to",      "in",      "server",  "and",    "is",
    "for",      "context", "token",   "cache",    "prompt", "with",    "that",    "on",      "slot",   "request",
    "streams",  "quickly", "because", "when",     "it",     "was",     "small",   "large",   "memory", "CPU",
    "GPU",      "user",    "message", "Telegram", "search", "result",  "summary", "turn",    "daemon", "process",
    "restarts", "after",   "failure", "we",       "can",    "measure", "the",     "latency", "per",    "byte"};

std::string random_prose(std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1), sentence(5, 18), para(3, 7);
  std::string out;
  while (out.size() < bytes) {
    const std::size_t sentences = para(rng);
    for (std::size_t s = 0; s < sentences; ++s) {
      const std::size_t n = sentence(rng);
      for (std::size_t w = 0; w < n; ++w) {
        std::string word(words[pick(rng)]);
        if (w == 0) word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
        out += word;
        out += w + 1 == n ? ". " : (pick(rng) % 9 == 0 ? ", " : " ");
      }
    }
    out += "\n\n";
  }
  return out;
}

std::string numbered_list(int n) {
  std::string out = "Here is the list you asked for:\n\n";
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1);
  for (int i = 1; i <= n; ++i) {
    out += std::to_string(i) + ". " + std::string(words[pick(rng)]) + " " + std::string(words[pick(rng)]) + " — item " +
           std::to_string(i * 37 % 101) + "\n";
  }
  return out;
}

std::string markdown_table(int rows) {
  std::string out = "| # | name | score | passed | notes |\n|---|------|------:|:------:|-------|\n";
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> score(0, 1000);
  std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1);
  for (int i = 1; i <= rows; ++i) {
    out += "| " + std::to_string(i) + " | " + std::string(words[pick(rng)]) + " | " + std::to_string(score(rng) / 10.0) +
           " | " + (score(rng) % 2 ? "yes" : "no") + " | " + std::string(words[pick(rng)]) + " |\n";
  }
  return out;
}

std::string cpp_code(int functions) {
  std::string out = "```cpp\n#include <vector>\n\nnamespace demo {\n\n";
  for (int f = 0; f < functions; ++f) {
    const std::string n = std::to_string(f);
    out += "int compute_" + n + "(const std::vector<int>& values) {\n";
    out += "  int total = 0;\n";
    out += "  for (std::size_t i = 0; i < values.size(); ++i) {\n";
    out += "    switch (values[i] % " + std::to_string(f % 5 + 2) + ") {\n";
    out += "      case 0:\n        total += values[i] * " + n + ";\n        break;\n";
    out += "      default:\n        total -= " + std::to_string(f * 3 + 1) + ";\n        break;\n";
    out += "    }\n  }\n  return total;\n}\n\n";
  }
  out += "}  // namespace demo\n```\n";
  return out;
}

// Text that is legitimately repetitive in short stretches.
std::string repetitive_but_normal() {
  std::string out;
  out += "Results\n" + std::string(80, '=') + "\n\n";
  out += "| a | b | c | d | e | f | g | h | i | j | k | l | m | n | o | p |\n";
  out += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  out += "| 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |\n";
  out += "| 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 2 | 0 | 0 | 0 | 0 | 0 | 0 |\n\n";
  out += std::string(120, '-') + "\n";
  out += std::string(24, ' ') + "return value;\n" + std::string(20, ' ') + "}\n" + std::string(16, ' ') + "}\n";
  out += "int grid[8][8] = {{0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}};\n";
  out += "Ha ha ha ha, that's a good one! Really, ha ha ha.\n";
  out += "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................\n";
  out += "- [ ] write the tests\n- [ ] run the tests\n- [x] read the docs\n\n\n\n";
  out += "Wait...\n\n\n\nDone!!!!!!!!!! 🎉🎉🎉🎉🎉\n";
  out += "I'm so so so so so so sorry.\n";
  return out;
}

}  // namespace

TEST_CASE("degeneration_guard: the endless <unused50> model is caught within 3 tokens", "[guard]") {
  degeneration_guard g;
  int tokens = 0;
  while (!g.verdict().abort() && tokens < 2037) {
    g.feed("<unused50>", 1);
    ++tokens;
  }
  CHECK(tokens <= 20);  // the bound the pipeline relies on
  CHECK(tokens == 3);   // max_pattern_hits with the default config
  CHECK(g.verdict().reason == degeneration_reason::pattern);
  CHECK(g.verdict().message == "repeated special token <unused50> (3 times)");
}

TEST_CASE("degeneration_guard: the recorded <unused50> SSE stream's deltas", "[guard]") {
  // llama-server-api.md §7.2, max_tokens 3: the deltas as the pipeline would pass them.
  const std::string sse =
      R"(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"})"
      "\n\n"
      R"(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"<unused50>"}}],"object":"chat.completion.chunk"})"
      "\n\n"
      R"(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"<unused50>"}}],"object":"chat.completion.chunk"})"
      "\n\n"
      R"(data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"<unused50>"}}],"object":"chat.completion.chunk"})"
      "\n\n"
      "data: [DONE]\n\n";
  openclawd::core::sse_parser parser;
  degeneration_guard g;
  int deltas = 0;
  for (const auto& ev : parser.feed(sse)) {
    if (openclawd::core::is_done(ev)) break;
    const auto j = json::parse(ev.data);
    const auto& delta = j["choices"][0]["delta"];
    if (!delta.contains("content") || !delta["content"].is_string()) continue;
    ++deltas;
    g.feed(delta["content"].get<std::string>(), 1);
  }
  CHECK(deltas == 3);
  CHECK(g.verdict().abort());
  CHECK(g.tokens_seen() == 3);
  CHECK(g.bytes_seen() == 30);
}

TEST_CASE("degeneration_guard: any mix of <unusedN> tokens, split anywhere, after normal text", "[guard]") {
  degeneration_guard g;
  const std::string text = random_prose(3000, 3) + "<unused32><unused7>x<unused12345>and more <unused50>";
  const std::size_t at = feed_pieces(g, text, 5, 3);
  REQUIRE(g.verdict().abort());
  CHECK(g.verdict().reason == degeneration_reason::pattern);
  CHECK(at <= text.find("<unused12345>") + 13 + 2);  // caught in the piece that completed the third
  CHECK(g.verdict().message == "repeated special token <unused12345> (3 times)");
}

TEST_CASE("degeneration_guard: one or two mentions of a special token are tolerated", "[guard]") {
  degeneration_guard g;
  feed_pieces(g, "Gemma sometimes prints <unused50> forever; a `<unused32>` token means the export is broken.\n");
  CHECK_FALSE(g.verdict().abort());
  // Not the pattern: no digits, no closing bracket, letters instead of digits.
  feed_pieces(g, "<unused> <unused50 <unusedX> <unused-1> < unused50>");
  CHECK_FALSE(g.verdict().abort());
}

TEST_CASE("degeneration_guard: with patterns off, the cycle check still catches <unused50>", "[guard]") {
  degeneration_config c;
  c.patterns.clear();
  degeneration_guard g(c);
  int tokens = 0;
  while (!g.verdict().abort() && tokens < 2037) {
    g.feed("<unused50>", 1);
    ++tokens;
  }
  CHECK(tokens <= 30);
  CHECK(g.verdict().reason == degeneration_reason::repetition);
  CHECK(g.verdict().message == "the same 10-character sequence \"<unused50>\" repeated 25 times");
}

TEST_CASE("degeneration_guard: short cycles", "[guard]") {
  struct example {
    std::string unit;
    std::size_t max_bytes;  // caught within this many bytes
    std::string message;
  };
  const std::vector<example> cases = {
      {"the ", 260, "the same 4-character sequence \"the \" repeated 64 times"},
      {"ab", 260, "the same 2-character sequence \"ab\" repeated 128 times"},
      {"\n", 260, "the same character \"\\n\" repeated 256 times"},
      {"abcdefg", 260, "the same 7-character sequence \"abcdefg\" repeated 36 times"},
      {"I am sorry. ", 260, "the same 12-character sequence \"I am sorry. \" repeated 21 times"},
      {"é", 260, "the same character \"é\" repeated 128 times"},
      {"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 1200,
       "the same 57-character sequence \"Lorem ipsum dolor sit amet, consectetur ...\" repeated 20 times"},
  };
  for (const auto& ex : cases) {
    INFO("unit: " << ex.unit);
    std::string text;
    while (text.size() < 100000) text += ex.unit;
    degeneration_guard g;
    const std::size_t at = feed_pieces(g, text, 9, 7);
    REQUIRE(g.verdict().abort());
    CHECK(g.verdict().reason == degeneration_reason::repetition);
    CHECK(at <= ex.max_bytes + 7);
    CHECK(g.verdict().message == ex.message);
    // However the text is split, the verdict comes at the same byte with the same words.
    for (std::size_t piece : {1u, 3u, 10u, 64u, 100000u}) {
      degeneration_guard other;
      feed_pieces(other, text, 42, piece);
      CHECK(other.bytes_seen() == g.bytes_seen());
      CHECK(other.verdict().message == g.verdict().message);
    }
  }
}

TEST_CASE("degeneration_guard: small thresholds are checked at every byte", "[guard]") {
  degeneration_config c;
  c.max_repeats = 3;
  c.min_repeat_bytes = 0;
  degeneration_guard g(c);
  CHECK_FALSE(g.feed("xyzxyzxy").abort());
  CHECK(g.feed("zxyz").abort());
  CHECK(g.bytes_seen() == 9);
  CHECK(g.verdict().message == "the same 3-character sequence \"xyz\" repeated 3 times");
}

TEST_CASE("degeneration_guard: a loop that starts after normal text is caught as soon as it is long enough", "[guard]") {
  const std::string prose = random_prose(20000, 17);
  std::string text = prose;
  for (int i = 0; i < 1000; ++i) text += "the ";
  degeneration_config c;
  c.max_chars = 0;
  degeneration_guard g(c);
  const std::size_t at = feed_pieces(g, text, 21, 10);
  REQUIRE(g.verdict().abort());
  INFO(g.verdict().message);
  CHECK(at > prose.size());
  CHECK(at <= prose.size() + 260 + 10);
}

TEST_CASE("degeneration_guard: the same long line over and over", "[guard]") {
  const std::string line = "As an AI language model, I cannot browse the internet, but here is what I know about it.";
  REQUIRE(line.size() > 64);  // too long for the cycle check
  const std::string prefix = random_prose(2000, 4) + "\n";
  std::string text = prefix;
  for (int i = 0; i < 100; ++i) text += line + (i % 2 ? "\n\n" : "\n");  // blank lines between do not help
  degeneration_guard g;
  const std::size_t at = feed_pieces(g, text, 2, 10);
  REQUIRE(g.verdict().abort());
  CHECK(g.verdict().reason == degeneration_reason::repetition);
  CHECK(g.verdict().message.rfind("the same line \"As an AI language model", 0) == 0);
  CHECK(g.verdict().message.find("repeated 16 times") != std::string::npos);
  CHECK(at <= prefix.size() + 16 * (line.size() + 2) + 10);
}

TEST_CASE("degeneration_guard: caps on characters and tokens", "[guard]") {
  SECTION("characters (code points, not bytes)") {
    degeneration_config c;
    c.max_chars = 4000;
    degeneration_guard g(c);
    // Cyrillic: two bytes per character; 3000 characters are 6000 bytes and fit.
    std::string cyr;
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> letter(0, 31), wl(2, 9);
    std::size_t chars = 0;
    while (chars < 3000) {
      for (int i = wl(rng); i > 0 && chars < 2999; --i, ++chars) {
        const int cp = 0x430 + letter(rng);
        cyr += static_cast<char>(0xC0 | (cp >> 6));
        cyr += static_cast<char>(0x80 | (cp & 0x3F));
      }
      cyr += ' ';
      ++chars;
    }
    feed_pieces(g, cyr, 1, 5);  // pieces split UTF-8 sequences
    CHECK_FALSE(g.verdict().abort());
    CHECK(g.chars_seen() == 3000);
    const std::string more = random_prose(5000, 8);
    const std::size_t at = feed_pieces(g, more);
    REQUIRE(g.verdict().abort());
    CHECK(g.verdict().reason == degeneration_reason::too_long);
    CHECK(g.verdict().message == "output exceeded 4000 characters");
    CHECK(g.chars_seen() == 4001);
    CHECK(at <= 1001 + 10);
  }
  SECTION("tokens") {
    degeneration_config c;
    c.max_tokens = 100;
    degeneration_guard g(c);
    const std::string prose = random_prose(5000, 5);
    std::size_t tokens = 0;
    for (std::size_t i = 0; i < prose.size() && !g.verdict().abort(); i += 4, ++tokens) g.feed(prose.substr(i, 4), 1);
    CHECK(tokens == 101);
    CHECK(g.verdict().message == "output exceeded 100 tokens");
  }
  SECTION("off") {
    degeneration_config c;
    c.max_chars = 0;
    degeneration_guard g(c);
    feed_pieces(g, random_prose(100000, 6));
    CHECK_FALSE(g.verdict().abort());
  }
}

TEST_CASE("degeneration_guard: normal output is never aborted", "[guard]") {
  const std::vector<std::pair<std::string, std::string>> samples = {
      {"prose", random_prose(15000, 1)},
      {"numbered list of 200 lines", numbered_list(200)},
      {"markdown table of 200 rows", markdown_table(200)},
      {"C++ code", cpp_code(60)},
      {"repetitive but normal", repetitive_but_normal()},
  };
  for (const auto& [name, text] : samples) {
    INFO(name);
    degeneration_config c;
    c.max_chars = 0;  // the samples are long on purpose
    for (std::uint32_t seed = 1; seed <= 5; ++seed) {
      degeneration_guard g(c);
      feed_pieces(g, text, seed, 10);
      CHECK_FALSE(g.verdict().abort());
      CHECK(g.verdict().message.empty());
      CHECK(g.bytes_seen() == text.size());
    }
    degeneration_guard whole(c);
    CHECK_FALSE(whole.feed(text).abort());
  }
}

TEST_CASE("degeneration_guard: the verdict is sticky until reset", "[guard]") {
  degeneration_guard g;
  for (int i = 0; i < 3; ++i) g.feed("<unused50>");
  REQUIRE(g.verdict().abort());
  const auto bytes = g.bytes_seen();
  CHECK(g.feed("perfectly normal text").abort());
  CHECK(g.bytes_seen() == bytes);  // ignored
  CHECK(g.finish().abort());
  g.reset();
  CHECK_FALSE(g.verdict().abort());
  CHECK(g.bytes_seen() == 0);
  CHECK_FALSE(g.feed("<unused50><unused50>").abort());  // the hit count restarted too
}

TEST_CASE("degeneration_guard: tokens generated with no visible text (control tokens) abort", "[guard]") {
  // Real Gemma exports type <unusedNN> as control tokens: llama-server streams nothing for
  // them, and only its count of generated tokens (GET /slots) shows the model is running.
  SECTION("a stream that shows nothing at all") {
    degeneration_guard g;
    CHECK_FALSE(g.generated(10).abort());
    CHECK_FALSE(g.generated(31).abort());
    CHECK(g.generated(40).abort());
    CHECK(g.verdict().reason == degeneration_reason::invisible);
    CHECK_THAT(g.verdict().message, Catch::Contains("40 tokens generated with no visible text"));
  }
  SECTION("visible pieces in between reset the run") {
    degeneration_guard g;
    for (int n = 5; n <= 500; n += 5) {
      g.feed("word" + std::to_string(n) + " ", 1);
      CHECK_FALSE(g.generated(static_cast<std::uint64_t>(n)).abort());
    }
    CHECK_FALSE(g.finish(500).abort());  // fewer tokens than bytes: nothing hidden
  }
  SECTION("a good start, then a stretch of invisible tokens") {
    degeneration_guard g;
    g.feed("Sure, here it is: ", 5);
    CHECK_FALSE(g.generated(5).abort());
    CHECK_FALSE(g.generated(25).abort());
    CHECK(g.generated(45).abort());
  }
  SECTION("at the end: more tokens than bytes by a run's worth") {
    degeneration_guard g;
    g.feed("{\"action\":\"answer\"}");
    CHECK(g.finish(200).abort());
    CHECK(g.verdict().reason == degeneration_reason::invisible);
    CHECK_THAT(g.verdict().message, Catch::Contains("200 tokens generated for 19 bytes"));
  }
  SECTION("off") {
    degeneration_config c;
    c.max_invisible_run = 0;
    degeneration_guard g(c);
    g.feed("x");
    CHECK_FALSE(g.generated(5000).abort());
    CHECK_FALSE(g.finish(5000).abort());
  }
}

TEST_CASE("degeneration_guard: an empty answer is never an answer", "[guard]") {
  SECTION("nothing at all") {
    degeneration_guard g;
    CHECK(g.finish().abort());
    CHECK(g.verdict().reason == degeneration_reason::empty);
  }
  SECTION("white space only") {
    degeneration_guard g;
    g.feed("\n\n  \t", 3);
    CHECK(g.finish(3).abort());
  }
  SECTION("the story's model on a build that hides control tokens: 1024 tokens, no text") {
    degeneration_guard g;
    CHECK(g.finish(1024).abort());
    CHECK(g.verdict().reason == degeneration_reason::invisible);
    CHECK_THAT(g.verdict().message, Catch::Contains("1024 tokens generated"));
  }
  SECTION("a thinking model that only thought") {
    degeneration_guard g;
    g.feed_reasoning("The user greets me. I should greet back.", 10);
    CHECK(g.finish(10).abort());
    CHECK_THAT(g.verdict().message, Catch::Contains("only reasoning"));
  }
  SECTION("reasoning, then an answer") {
    degeneration_guard g;
    g.feed_reasoning("The user greets me.", 5);
    g.feed("Hello!", 2);
    CHECK_FALSE(g.finish(7).abort());
  }
  SECTION("reasoning is checked like the answer") {
    degeneration_guard g;
    for (int i = 0; i < 3; ++i) g.feed_reasoning("<unused50>", 1);
    CHECK(g.verdict().abort());
    CHECK(g.verdict().reason == degeneration_reason::pattern);
  }
}

TEST_CASE("degeneration_guard: literal and regex patterns", "[guard]") {
  degeneration_config c;
  c.patterns = {"<start_of_turn>", "\\[/?INST\\]"};
  c.max_pattern_hits = 1;
  SECTION("a literal split across deltas") {
    degeneration_guard g(c);
    CHECK_FALSE(g.feed("Sure. <start_of").abort());
    CHECK(g.feed("_turn>user").abort());
    CHECK(g.verdict().reason == degeneration_reason::pattern);
    CHECK(g.verdict().message == "output contains \"<start_of_turn>\" (pattern <start_of_turn>)");
  }
  SECTION("a regex, found at the next stride or at finish()") {
    degeneration_guard g(c);
    CHECK_FALSE(g.feed("some text [/IN").abort());
    CHECK_FALSE(g.feed("ST] and").abort());  // fewer than regex_stride bytes so far
    CHECK(g.finish().abort());
    CHECK(g.verdict().message == "output contains \"[/INST]\" (pattern \\[/?INST\\])");
  }
  SECTION("a regex in a long output is found within a stride, once") {
    c.max_pattern_hits = 2;
    degeneration_guard g(c);
    std::string text = random_prose(1000, 2) + "[INST]" + random_prose(1000, 3);
    feed_pieces(g, text, 4, 10);
    CHECK_FALSE(g.finish().abort());  // one hit, counted once although windows overlap
    const std::string second = "[INST]" + random_prose(1000, 5);
    const std::size_t at = feed_pieces(g, second, 6, 10);
    CHECK(g.verdict().abort());
    CHECK(at <= 6 + c.regex_stride + 10);
  }
  SECTION("the default pattern can sit next to custom ones") {
    c.patterns.push_back("<unused\\d+>");
    degeneration_guard g(c);
    CHECK(g.feed("<unused3>").abort());
  }
}

TEST_CASE("degeneration_guard: config validation", "[guard]") {
  CHECK(validate(degeneration_config{}).empty());
  degeneration_config c;
  c.patterns = {"(unclosed"};
  CHECK(validate(c).find("not a valid regular expression") != std::string::npos);
  CHECK_THROWS_AS(degeneration_guard(c), std::invalid_argument);
  c = {};
  c.max_repeats = 1;
  CHECK_FALSE(validate(c).empty());
  c = {};
  c.max_cycle = 0;
  CHECK_FALSE(validate(c).empty());
  c.max_repeats = 0;  // the cycle check off: max_cycle does not matter
  CHECK(validate(c).empty());
  c = {};
  c.patterns = {""};
  CHECK_FALSE(validate(c).empty());
  c = {};
  c.max_pattern_hits = 0;
  CHECK_FALSE(validate(c).empty());
  CHECK(to_string(degeneration_reason::repetition) == "repetition");
}

TEST_CASE("degeneration_guard: 1 MB in 1-10 byte deltas is fast", "[guard][performance]") {
  const std::string text = random_prose(std::size_t{1} << 20, 99);
  degeneration_config c;
  c.max_chars = 0;
  std::vector<std::string_view> pieces;
  std::mt19937 rng(1);
  std::uniform_int_distribution<std::size_t> len(1, 10);
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t n = std::min(len(rng), text.size() - at);
    pieces.push_back(std::string_view(text).substr(at, n));
    at += n;
  }
  degeneration_guard g(c);
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  for (auto p : pieces) g.feed(p, 1);
  g.finish();
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CHECK_FALSE(g.verdict().abort());
  CHECK(g.bytes_seen() == text.size());
  WARN("degeneration_guard: " << text.size() << " bytes in " << pieces.size() << " deltas took " << ms
                              << " ms (" << cpu_ms << " ms of CPU)");
  // A bound for any build type and a loaded machine; the measured figure is reported above.
  CHECK(ms < 5000);

  // The same with a custom regex (the slow path), for the record.
  degeneration_config r = c;
  r.patterns.push_back("\\[/?INST\\]");
  degeneration_guard gr(r);
  const auto start_r = std::chrono::steady_clock::now();
  for (auto p : pieces) gr.feed(p, 1);
  gr.finish();
  const auto ms_r = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_r).count();
  CHECK_FALSE(gr.verdict().abort());
  WARN("degeneration_guard with one custom regex: " << ms_r << " ms");
}

TEST_CASE("logit_bias_ban: llama-server's array form", "[guard]") {
  const std::vector<std::int32_t> ids = {32052, 5, 32052, -1, 0};
  const json j = logit_bias_ban(ids);
  CHECK(j.dump() == "[[32052,false],[5,false],[0,false]]");
  CHECK(logit_bias_ban({}).dump() == "[]");
}
