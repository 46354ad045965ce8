// gateway/markdown: tables (aligned when they fit, listed when not, display width of CJK and
// emoji), citation markers and sources lists, the terminal rendering (ANSI only when asked, the
// model's control characters neutralized), and deep nesting. The constructs shared with
// Telegram (headings, lists, quotes, code, links) are in telegram_format_test.cpp.
#include "gateway/markdown.hpp"
#include "gateway/telegram/format.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace openclawd::gateway;
namespace tg = openclawd::gateway::telegram;

namespace {

const std::string fruit_table =
    "| Fruit | Price | Origin |\n"
    "|:------|------:|:------:|\n"
    "| **Apple** | 1.20 | 中国 |\n"
    "| Banana 🍌 | 0.5 | Ecuador |\n";

const std::string model_table =
    "| Model | Context | Notes |\n"
    "|---|---|---|\n"
    "| Qwen3-30B-A3B | 128k tokens | mixture of experts, fast on CPU |\n"
    "| Llama 3.1 8B | 128k | *dense*, good at [tools](https://e.com/t) |\n";

}  // namespace

TEST_CASE("markdown: display width counts wide characters and emoji twice", "[markdown]") {
  CHECK(display_width("") == 0);
  CHECK(display_width("abc") == 3);
  CHECK(display_width("中国") == 4);
  CHECK(display_width("日本語のテキスト") == 16);
  CHECK(display_width("한국") == 4);
  CHECK(display_width("ｆｕｌｌ") == 8);  // fullwidth Latin
  CHECK(display_width("🍌") == 2);
  CHECK(display_width("✅") == 2);
  CHECK(display_width("é") == 1);
  CHECK(display_width("e\u0301") == 1);              // combining accent
  CHECK(display_width("👍🏽") == 2);                  // skin tone
  CHECK(display_width("👩\u200D👩\u200D👧") == 2);  // one ZWJ family
  CHECK(display_width("❤\uFE0F") == 1);             // variation selector adds nothing
}

TEST_CASE("markdown: a table that fits a phone is aligned in <pre>", "[markdown][telegram][format]") {
  const std::string html = tg::markdown_to_html("Prices:\n\n" + fruit_table);
  CHECK(html ==
        "Prices:\n\n"
        "<pre>Fruit      Price  Origin\n"
        "---------  -----  -------\n"
        "Apple       1.20   中国\n"
        "Banana 🍌    0.5  Ecuador</pre>");
  CHECK_FALSE(tg::html_problem(html));
  // Plain text: the same lines; right and centre alignment from the delimiter row.
  CHECK(tg::markdown_to_plain(fruit_table) ==
        "Fruit      Price  Origin\n"
        "---------  -----  -------\n"
        "Apple       1.20   中国\n"
        "Banana 🍌    0.5  Ecuador");
  // Cells are escaped in <pre>, and their formatting is dropped there.
  CHECK(tg::markdown_to_html("| a<b | `c` |\n|--|--|\n| **x** & y | ~~z~~ |") ==
        "<pre>a&lt;b    c\n-----  -\nx &amp; y  z</pre>");
}

TEST_CASE("markdown: a table wider than a phone becomes one block per row", "[markdown][telegram][format]") {
  const std::string html = tg::markdown_to_html(model_table);
  CHECK(html ==
        "<b>Qwen3-30B-A3B</b>\n"
        "Context: 128k tokens\n"
        "Notes: mixture of experts, fast on CPU\n\n"
        "<b>Llama 3.1 8B</b>\n"
        "Context: 128k\n"
        "Notes: <i>dense</i>, good at <a href=\"https://e.com/t\">tools</a>");
  CHECK_FALSE(tg::html_problem(html));
  CHECK(tg::markdown_to_plain(model_table) ==
        "Qwen3-30B-A3B\n"
        "Context: 128k tokens\n"
        "Notes: mixture of experts, fast on CPU\n\n"
        "Llama 3.1 8B\n"
        "Context: 128k\n"
        "Notes: dense, good at tools (https://e.com/t)");
  // A terminal wide enough aligns it.
  CHECK(markdown_to_terminal(model_table, 100, false) ==
        "Model          Context      Notes\n"
        "-------------  -----------  --------------------------------------\n"
        "Qwen3-30B-A3B  128k tokens  mixture of experts, fast on CPU\n"
        "Llama 3.1 8B   128k         dense, good at tools (https://e.com/t)");
  // 40 columns exactly still fits; 41 does not.
  const std::string fits = "| " + std::string(18, 'a') + " | " + std::string(20, 'b') + " |\n|-|-|\n| x | y |";
  CHECK(tg::markdown_to_html(fits).starts_with("<pre>"));
  const std::string wider = "| " + std::string(19, 'a') + " | " + std::string(20, 'b') + " |\n|-|-|\n| x | y |";
  CHECK(tg::markdown_to_html(wider) == "<b>x</b>\n" + std::string(20, 'b') + ": y");
  // A wide character counts two columns: 19 CJK characters (38) + 2 + 1 = 41; 18 fit.
  std::string han;
  for (int i = 0; i < 18; ++i) han += "字";
  CHECK(tg::markdown_to_html("| " + han + " | b |\n|-|-|\n| x | y |").starts_with("<pre>"));
  CHECK_FALSE(tg::markdown_to_html("| " + han + "字 | b |\n|-|-|\n| x | y |").starts_with("<pre>"));
}

TEST_CASE("markdown: tables in quotes and lists, and odd tables", "[markdown][telegram][format]") {
  // No <pre> inside a Telegram quote: the list form.
  CHECK(tg::markdown_to_html("> | a | b |\n> |---|---|\n> | 1 | 2 |") == "<blockquote><b>1</b>\nb: 2</blockquote>");
  CHECK(tg::markdown_to_plain("> | a | b |\n> |---|---|\n> | 1 | 2 |") == "> a  b\n> -  -\n> 1  2");
  // Header only; missing and empty cells.
  CHECK(tg::markdown_to_html("| a | b |\n|---|---|") == "<pre>a  b\n-  -</pre>");
  CHECK(tg::markdown_to_plain("| a | b | c |\n|---|---|---|\n| 1 |\n|  | 2 | 3 |") ==
        "a  b  c\n-  -  -\n1\n   2  3");
  for (const std::string& md : {"|a|\n|-|\n" + std::string(200, 'x'), std::string("| | |\n|-|-|\n| | |"),
                               "- | a |\n  |---|\n  | " + std::string(60, 'y') + " |"}) {
    INFO(md);
    CHECK_FALSE(tg::html_problem(tg::markdown_to_html(md)));
  }
}

TEST_CASE("markdown: citation markers and the sources list", "[markdown][telegram][format]") {
  const std::string md =
      "Rust 1.80 stabilised LazyCell [[1]](https://blog.rust-lang.org/a) and more [[2]](https://b.example/y).\n\n"
      "Sources:\n"
      "[1] [Announcing Rust 1.80](https://blog.rust-lang.org/a)\n"
      "[2] [Second](https://b.example/y)";
  CHECK(tg::markdown_to_html(md) ==
        "Rust 1.80 stabilised LazyCell <a href=\"https://blog.rust-lang.org/a\">[1]</a> and more "
        "<a href=\"https://b.example/y\">[2]</a>.\n\n"
        "Sources:\n"
        "[1] <a href=\"https://blog.rust-lang.org/a\">Announcing Rust 1.80</a>\n"
        "[2] <a href=\"https://b.example/y\">Second</a>");
  const std::string plain =
      "Rust 1.80 stabilised LazyCell [1] and more [2].\n\n"
      "Sources:\n"
      "[1] Announcing Rust 1.80 (https://blog.rust-lang.org/a)\n"
      "[2] Second (https://b.example/y)";
  CHECK(tg::markdown_to_plain(md) == plain);
  CHECK(markdown_to_terminal(md, 80, false) == plain);
  // Only a bracketed number is a marker: other link texts keep their URL in plain text.
  CHECK(tg::markdown_to_plain("[[a]](https://x.y) [[1a]](https://x.y) [1](https://x.y)") ==
        "[a] (https://x.y) [1a] (https://x.y) 1 (https://x.y)");
  // A marker with a scheme Telegram must not link is not a link in HTML either.
  CHECK(tg::markdown_to_html("[[3]](javascript:x)") == "[3] (javascript:x)");
  // A bare "[1]" (no link) stays as written.
  CHECK(tg::markdown_to_html("as shown [1].") == "as shown [1].");
}

TEST_CASE("markdown: terminal rendering", "[markdown]") {
  const std::string md = "# Title\n\nSome **bold**, *italic* and ~~gone~~ `code`.\n\n- a\n- b";
  CHECK(markdown_to_terminal(md, 80, false) == "Title\n\nSome bold, italic and gone code.\n\n• a\n• b");
  CHECK(markdown_to_terminal(md, 80, true) ==
        "\x1b[1mTitle\x1b[22m\n\nSome \x1b[1mbold\x1b[22m, \x1b[3mitalic\x1b[23m and \x1b[9mgone\x1b[29m code.\n\n"
        "• a\n• b");
  // Without ANSI the terminal text is the plain text.
  CHECK(markdown_to_terminal(model_table, phone_table_columns, false) == tg::markdown_to_plain(model_table));
  // The model's own escape sequences never reach the terminal (nor C1 controls like U+009B).
  const std::string evil = "a\x1b]0;owned\x07 b\x1b[2J `\x1b[31m` \xC2\x9B" "31m";
  const std::string out = markdown_to_terminal(evil, 80, true);
  CHECK(out.find('\x1b') == std::string::npos);
  CHECK(out.find('\x07') == std::string::npos);
  CHECK(out.find("\xC2\x9B") == std::string::npos);
  CHECK(out.find("\xEF\xBF\xBD") != std::string::npos);
  // Header in bold when ANSI is on; the header rule is plain.
  CHECK(markdown_to_terminal("| a | b |\n|--|--|\n| 1 | 2 |", 80, true) == "\x1b[1ma  b\x1b[22m\n-  -\n1  2");
}

TEST_CASE("markdown: deep nesting renders without deep recursion", "[markdown][telegram][format]") {
  for (const std::string& md : {std::string(50000, '>') + " x", std::string(20000, '[') + "x",
                                [] {
                                  std::string s;
                                  for (int i = 0; i < 3000; ++i) s += std::string(static_cast<std::size_t>(i) * 2, ' ') + "- item\n";
                                  return s;
                                }(),
                                [] {
                                  std::string s;
                                  for (int i = 0; i < 5000; ++i) s += "*a _b ";
                                  for (int i = 0; i < 5000; ++i) s += "c_ d* ";
                                  return s;
                                }()}) {
    const std::string html = tg::markdown_to_html(md);
    CHECK_FALSE(tg::html_problem(html));
    CHECK((html.find('x') != std::string::npos || html.find("item") != std::string::npos ||
           html.find('a') != std::string::npos));
    CHECK_FALSE(markdown_to_terminal(md, 80, true).empty());
  }
}

TEST_CASE("markdown: a stream is complete up to its last blank line outside a fence", "[markdown]") {
  CHECK(complete_blocks_length("") == 0);
  CHECK(complete_blocks_length("one paragraph") == 0);
  CHECK(complete_blocks_length("one paragraph\n") == 0);
  CHECK(complete_blocks_length("para\n\nnext") == 6);
  CHECK(complete_blocks_length("| a |\n|---|\n| 1 |\n\n- x\n- y\n\nmore") == 28);
  // A blank line inside a code fence does not end anything; the fence's end does not either.
  CHECK(complete_blocks_length("```py\na\n\nb\n") == 0);
  CHECK(complete_blocks_length("```py\na\n\nb\n```\n") == 0);
  CHECK(complete_blocks_length("```py\na\n\nb\n```\n\nafter") == 16);
  CHECK(complete_blocks_length("~~~~\n```\n\n~~~\n\n~~~~\n\nx") == 21);
  // A line still being written ("\n\n" not yet seen) is not complete.
  CHECK(complete_blocks_length("a\n \t\nb") == 5);
}
