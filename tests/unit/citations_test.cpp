// Cited answers (gateway/citations.hpp): markers become links, a sources list is appended,
// code and invented numbers are left alone.
#include "gateway/citations.hpp"

#include <catch2/catch.hpp>

using namespace openclawd::gateway;

namespace {
const std::vector<source> two{{1, "Paris forecast", "https://weather.example/paris", true},
                              {2, "A [weird] *title*", "https://b.example/x y", false}};
}

TEST_CASE("citations: markers are linked and the cited sources listed", "[citations]") {
  const auto c = cite_sources("Sunny [1], says the forecast [1, 2].", two);
  CHECK(c.cited == std::vector<int>{1, 2});
  CHECK(c.shown ==
        "Sunny [[1]](<https://weather.example/paris>), says the forecast [[1]](<https://weather.example/paris>)"
        "[[2]](<https://b.example/x%20y>).\n\nSources:\n[1] [Paris forecast](<https://weather.example/paris>)\n"
        "[2] [A \\[weird\\] \\*title\\*](<https://b.example/x%20y>)");
  CHECK(c.stored == "Sunny [1], says the forecast [1, 2]." + c.sources);
}

TEST_CASE("citations: nothing cited lists the pages read, and nothing read adds nothing", "[citations]") {
  const auto c = cite_sources("No markers here.", two);
  CHECK(c.cited.empty());
  CHECK(c.sources == "\n\nSources:\n[1] [Paris forecast](<https://weather.example/paris>)");
  const auto none = cite_sources("No markers here.", {{1, "B", "https://b.example/", false}});
  CHECK(none.sources.empty());
  CHECK(none.shown == "No markers here.");
  CHECK(cite_sources("Plain [1].", {}).shown == "Plain [1].");
}

TEST_CASE("citations: code, links, invented numbers and other brackets stay as written", "[citations]") {
  const std::string text =
      "Use `arr[1]` and\n```\nx = y[1]\n```\n[1](https://own.example) [3] [a] [1]: ref [[1]](https://x.example) "
      "[ 2 ]";
  const auto c = cite_sources(text, two);
  CHECK(c.cited == std::vector<int>{2});
  CHECK(c.shown.substr(0, text.size() - 5) == text.substr(0, text.size() - 5));
  CHECK(c.shown.find("[[2]](<https://b.example/x%20y>)") != std::string::npos);
}
