// gateway/telegram/format: model Markdown → Telegram HTML (each construct, nesting, stray and
// unbalanced markers, intraword markers and bare URLs as CommonMark/GFM read them, unsafe
// links, invalid UTF-8; tables and citations are in markdown_test.cpp), the plain-text
// rendering, and the splitter (UTF-16 limit, boundaries, tags reopened, nothing cut in half). A
// seeded property test feeds thousands of random Markdown-ish strings through the renderer and
// the splitter and checks every result with html_problem(). `[.bench]` times a long answer.
#include "gateway/telegram/format.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace openclawd::gateway::telegram;

namespace {

std::string utf8(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// What Telegram shows for well-formed HTML: tags removed, entities decoded.
std::string visible(std::string_view html) {
  std::string out;
  for (std::size_t i = 0; i < html.size();) {
    if (html[i] == '<') {
      i = html.find('>', i) + 1;
    } else if (html[i] == '&') {
      const std::size_t semi = html.find(';', i);
      const std::string_view e = html.substr(i + 1, semi - i - 1);
      if (e == "lt") {
        out += '<';
      } else if (e == "gt") {
        out += '>';
      } else if (e == "amp") {
        out += '&';
      } else if (e == "quot") {
        out += '"';
      } else if (e.size() > 1 && (e[1] == 'x' || e[1] == 'X')) {
        out += utf8(static_cast<std::uint32_t>(std::stoul(std::string(e.substr(2)), nullptr, 16)));
      } else {
        out += utf8(static_cast<std::uint32_t>(std::stoul(std::string(e.substr(1)))));
      }
      i = semi + 1;
    } else {
      out += html[i++];
    }
  }
  return out;
}

std::string without_space(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out += c;
  return out;
}

bool is_blank(std::string_view s) { return without_space(s).empty(); }

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Every chunk: well-formed, within the limit, not blank; together they show the same text.
void check_split(std::string_view html, std::size_t limit) {
  const auto chunks = split_html(html, limit);
  std::string joined;
  for (const auto& c : chunks) {
    INFO("limit " << limit << ", chunk: " << c);
    const auto problem = html_problem(c);
    CHECK(problem.value_or("") == "");
    CHECK(utf16_length(visible(c)) <= limit);
    CHECK_FALSE(is_blank(visible(c)));
    joined += visible(c);
  }
  CHECK(without_space(joined) == without_space(visible(html)));
}

void check_split_plain(std::string_view text, std::size_t limit) {
  const auto chunks = split_plain(text, limit);
  std::string joined;
  for (const auto& c : chunks) {
    INFO("limit " << limit << ", chunk: " << c);
    CHECK(sanitize_utf8(c) == c);
    CHECK(utf16_length(c) <= limit);
    CHECK_FALSE(is_blank(c));
    joined += c;
  }
  CHECK(without_space(joined) == without_space(sanitize_utf8(text)));
}

// A long answer as a model writes it: paragraphs with formatting, emoji and CJK, a list, a
// quote and a long code block.
std::string long_answer(std::size_t target) {
  std::string md = "# Overview\n\nHere is what I found 😀 about **the topic** and _why_ it matters.\n\n";
  int n = 0;
  while (utf16_length(md) < target / 2) {
    md += "Paragraph " + std::to_string(++n) + ": the quick brown fox 🦊 jumps over the lazy dog, "
          "see [the docs](https://example.com/docs?a=1&b=2) and `inline < code`. 中文字符测试，日本語のテキスト。"
          " Arithmetic like 2*3*4 and names like snake_case_name stay as they are.\n\n";
    if (n % 4 == 0) md += "- item one with **bold**\n- item two with ~~strike~~\n1. numbered\n\n> a quote 😀\n\n";
  }
  md += "```python\n";
  while (utf16_length(md) < target * 9 / 10) md += "    result = compute(x < 10 && y > 2)  # **not bold** 😀\n";
  md += "```\n\nAnd a closing paragraph.";
  while (utf16_length(md) < target) md += " More words to close, 😀 中文.";
  return md;
}

}  // namespace

TEST_CASE("telegram format: sanitize_utf8 replaces ill-formed sequences", "[telegram][format]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(sanitize_utf8("plain é 中 😀") == "plain é 中 😀");
  CHECK(sanitize_utf8("a\xC0\xAF" "b") == "a" + fffd + fffd + "b");         // overlong '/'
  CHECK(sanitize_utf8("\xE0\x80\xAF") == fffd + fffd + fffd);              // overlong, 3 bytes
  CHECK(sanitize_utf8("\xED\xA0\x80") == fffd + fffd + fffd);              // surrogate U+D800
  CHECK(sanitize_utf8("\xF4\x90\x80\x80") == repeat(fffd, 4));             // above U+10FFFF
  CHECK(sanitize_utf8("x\xE2\x82") == "x" + fffd);                         // truncated at the end
  CHECK(sanitize_utf8("\xE2\x82" "A") == fffd + "A");                      // truncated mid-text
  CHECK(sanitize_utf8("\x80\xBF") == fffd + fffd);                         // stray continuations
  CHECK(sanitize_utf8("\xFF\xFE") == fffd + fffd);
  CHECK(sanitize_utf8("\xF0\x9F\x98") == fffd);                            // half an emoji
  CHECK(sanitize_utf8(std::string_view("a\0b", 3)) == std::string("a\0b", 3));
}

TEST_CASE("telegram format: utf16_length counts astral characters twice", "[telegram][format]") {
  CHECK(utf16_length("") == 0);
  CHECK(utf16_length("abc") == 3);
  CHECK(utf16_length("é中") == 2);
  CHECK(utf16_length("😀") == 2);
  CHECK(utf16_length("a😀b🦊") == 6);
  // Ill-formed bytes count as the U+FFFD each becomes.
  for (std::string_view bad : {"\xFF", "\xF0", "\xF0\x9F\x98", "\xED\xA0\x80", "a\xC0\xAF"})
    CHECK(utf16_length(bad) == utf16_length(sanitize_utf8(bad)));
}

TEST_CASE("telegram format: text is escaped", "[telegram][format]") {
  CHECK(markdown_to_html("a < b && c > d, \"quoted\" 'too'") ==
        "a &lt; b &amp;&amp; c &gt; d, \"quoted\" 'too'");
  // Model-written HTML is text, not markup. An entity reference is a character (CommonMark):
  // `&amp;` shows "&", `&lt;` "<".
  CHECK(markdown_to_html("<b>not bold</b> &amp; &lt;i&gt;") == "&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;i&gt;");
  CHECK(markdown_to_html("<script>alert(1)</script>\n\ntext") == "&lt;script&gt;alert(1)&lt;/script&gt;\n\ntext");
  // Quotes in a link target are escaped inside the attribute.
  const std::string link = markdown_to_html("[x](https://e.com/?q=\"a\"&b=<c>)");
  CHECK(link == "<a href=\"https://e.com/?q=&quot;a&quot;&amp;b=&lt;c&gt;\">x</a>");
  CHECK_FALSE(html_problem(link));
}

TEST_CASE("telegram format: each inline construct", "[telegram][format]") {
  CHECK(markdown_to_html("**bold** and __bold__") == "<b>bold</b> and <b>bold</b>");
  CHECK(markdown_to_html("*italic* and _italic_") == "<i>italic</i> and <i>italic</i>");
  CHECK(markdown_to_html("~~gone~~") == "<s>gone</s>");
  CHECK(markdown_to_html("use `std::vector<int>` here") == "use <code>std::vector&lt;int&gt;</code> here");
  CHECK(markdown_to_html("``a `tick` b``") == "<code>a `tick` b</code>");
  CHECK(markdown_to_html("`**no bold**`") == "<code>**no bold**</code>");
  CHECK(markdown_to_html("[site](https://example.com)") == "<a href=\"https://example.com\">site</a>");
  CHECK(markdown_to_html("[me](mailto:a@b.c) [u](tg://user?id=1)") ==
        "<a href=\"mailto:a@b.c\">me</a> <a href=\"tg://user?id=1\">u</a>");
  CHECK(markdown_to_html("![a cat](https://e.com/cat.png)") == "<a href=\"https://e.com/cat.png\">a cat</a>");
  CHECK(markdown_to_html("[Wiki](https://en.wikipedia.org/wiki/Foo_(bar))") ==
        "<a href=\"https://en.wikipedia.org/wiki/Foo_(bar)\">Wiki</a>");
  CHECK(markdown_to_html("***both***") == "<i><b>both</b></i>");  // CommonMark: em around strong
  CHECK(markdown_to_html("\\*not italic\\*") == "*not italic*");
  CHECK(markdown_to_html("这是**重要**的") == "这是<b>重要</b>的");
}

TEST_CASE("telegram format: nesting", "[telegram][format]") {
  CHECK(markdown_to_html("[**docs**](https://x.y)") == "<a href=\"https://x.y\"><b>docs</b></a>");
  CHECK(markdown_to_html("**see [the docs](https://x.y) now**") == "<b>see <a href=\"https://x.y\">the docs</a> now</b>");
  CHECK(markdown_to_html("**run `ls -l` now**") == "<b>run <code>ls -l</code> now</b>");
  CHECK(markdown_to_html("*a **b** c*") == "<i>a <b>b</b> c</i>");
  CHECK(markdown_to_html("**a *b* c**") == "<b>a <i>b</i> c</b>");
  // Bold inside bold (a heading) adds no second tag; code cannot be part of a link in Telegram.
  CHECK(markdown_to_html("# Title with **bold**") == "<b>Title with bold</b>");
  CHECK(markdown_to_html("[`code`](https://x.y)") == "<a href=\"https://x.y\">code</a>");
  // CommonMark: a link cannot contain a link, so the inner one wins and the outer brackets are
  // text (its URL is then a bare URL, autolinked).
  CHECK(markdown_to_html("[a [b](https://b.c) c](https://a.c)") ==
        "[a <a href=\"https://b.c\">b</a> c](<a href=\"https://a.c\">https://a.c</a>)");
  CHECK(markdown_to_html("[see https://x.y/a now](https://a.c)") == "<a href=\"https://a.c\">see https://x.y/a now</a>");
  // Markers in a URL or a code span do not close anything outside it.
  CHECK(markdown_to_html("*see [x](https://a.b/c*d)*") == "<i>see <a href=\"https://a.b/c*d\">x</a></i>");
  CHECK(markdown_to_html("*a `b*` c*") == "<i>a <code>b*</code> c</i>");
}

TEST_CASE("telegram format: unbalanced and stray markers stay literal", "[telegram][format]") {
  CHECK(markdown_to_html("**bold without end") == "**bold without end");
  CHECK(markdown_to_html("*half") == "*half");
  CHECK(markdown_to_html("a ** b") == "a ** b");
  CHECK(markdown_to_html("5 * 3 = 15") == "5 * 3 = 15");
  CHECK(markdown_to_html("a lone * star") == "a lone * star");
  CHECK(markdown_to_html("`open code") == "`open code");
  CHECK(markdown_to_html("~~strike") == "~~strike");
  CHECK(markdown_to_html("~5 min") == "~5 min");
  CHECK(markdown_to_html("[text](") == "[text](");
  CHECK(markdown_to_html("[1] and [2]") == "[1] and [2]");
  CHECK(markdown_to_html("** spaced **") == "** spaced **");
  // Markers pair across the lines of one paragraph (CommonMark), never across paragraphs: a
  // stray `*` cannot swallow the rest of the answer.
  CHECK(markdown_to_html("*one\ntwo*") == "<i>one\ntwo</i>");
  CHECK(markdown_to_html("*one\n\ntwo*") == "*one\n\ntwo*");
  CHECK(markdown_to_html("**open\n\n- a\n- b**") == "**open\n\n• a\n• b**");
  for (std::string_view s : {"**", "*", "***", "____", "~~~~", "``", "[", "]()", "*_*_*_", "**_**_"}) {
    INFO(s);
    CHECK_FALSE(html_problem(markdown_to_html(s)));
  }
}

TEST_CASE("telegram format: intraword markers follow CommonMark, and bare URLs are links", "[telegram][format]") {
  // `_` inside a word is never a marker (CommonMark), so snake_case stays as written.
  CHECK(markdown_to_html("call my_snake_case_function now") == "call my_snake_case_function now");
  CHECK(markdown_to_html("x = 2 * 3 * 4") == "x = 2 * 3 * 4");
  CHECK(markdown_to_html("__two words__") == "<b>two words</b>");
  // CommonMark's reading, where the old hand-written parser had heuristics: an `_` that starts a
  // word opens, one that ends a word closes; `*` pairs inside words too; a Python dunder name is
  // strong emphasis. Models that mean code put it in backticks.
  CHECK(markdown_to_html("set _private_var and MAX_VALUE_") == "set <i>private_var and MAX_VALUE</i>");
  CHECK(markdown_to_html("2*3*4 = 24 and a*b*c") == "2<i>3</i>4 = 24 and a<i>b</i>c");
  CHECK(markdown_to_html("def __init__(self)") == "def <b>init</b>(self)");
  CHECK(markdown_to_html("`__init__` and `2*3*4`") == "<code>__init__</code> and <code>2*3*4</code>");
  // GFM autolinks: a bare URL is a link; trailing punctuation is not part of it.
  CHECK(markdown_to_html("see https://ex.com/_a_b_ and http://x.y/*z*") ==
        "see <a href=\"https://ex.com/_a_b\">https://ex.com/_a_b</a>_ and <a href=\"http://x.y/*z\">http://x.y/*z</a>*");
  CHECK(markdown_to_html("**https://ex.com/a_b**") == "<b><a href=\"https://ex.com/a_b\">https://ex.com/a_b</a></b>");
  CHECK(markdown_to_html("at www.example.com.") == "at <a href=\"http://www.example.com\">www.example.com</a>.");
  CHECK(markdown_to_plain("at www.example.com and https://e.com/x") == "at www.example.com and https://e.com/x");
}

TEST_CASE("telegram format: code blocks keep their content", "[telegram][format]") {
  CHECK(markdown_to_html("Try:\n```cpp\nif (a < b && **c**) { x = _y_; }\n```\ndone") ==
        "Try:\n<pre><code class=\"language-cpp\">if (a &lt; b &amp;&amp; **c**) { x = _y_; }</code></pre>\ndone");
  CHECK(markdown_to_html("```\n# not a heading\n- not a list\n```") == "<pre># not a heading\n- not a list</pre>");
  // Unterminated: runs to the end.
  CHECK(markdown_to_html("```py\nprint('*x*')\n\nmore") ==
        "<pre><code class=\"language-py\">print('*x*')\n\nmore</code></pre>");
  // A language that could break out of the attribute is dropped.
  CHECK(markdown_to_html("```\"><b>\ncode\n```") == "<pre>code</pre>");
  CHECK(markdown_to_html("~~~c++\nint x;\n~~~") == "<pre><code class=\"language-c++\">int x;</code></pre>");
  // An indented fence (inside a list item) loses its own indentation only.
  CHECK(markdown_to_html("- step:\n  ```sh\n  ls\n    -l\n  ```") ==
        "• step:\n<pre><code class=\"language-sh\">ls\n  -l</code></pre>");
  CHECK(markdown_to_html("```\n\n```\ntext") == "text");
  CHECK(markdown_to_html("```print(1)```") == "<code>print(1)</code>");
}

TEST_CASE("telegram format: links with unsafe schemes are not links", "[telegram][format]") {
  CHECK(markdown_to_html("[click](javascript:alert(1))") == "click (javascript:alert(1))");
  CHECK(markdown_to_html("[click](JavaScript:alert(1))") == "click (JavaScript:alert(1))");
  CHECK(markdown_to_html("[f](file:///etc/passwd)") == "f (file:///etc/passwd)");
  CHECK(markdown_to_html("[rel](/path/x)") == "rel (/path/x)");
  CHECK(markdown_to_html("[x](data:text/html,<script>)") == "x (data:text/html,&lt;script&gt;)");
  CHECK(markdown_to_html("[HTTPS](HTTPS://E.COM)") == "<a href=\"HTTPS://E.COM\">HTTPS</a>");
  CHECK(markdown_to_html("[t](https://e.com \"Title\")") == "<a href=\"https://e.com\">t</a>");
  CHECK(markdown_to_html("[](https://e.com)") == "https://e.com");
}

TEST_CASE("telegram format: headings, lists, quotes and rules", "[telegram][format]") {
  const std::string md =
      "# Title\n## Sub ##\n- one\n* two\n+ three\n  - nested\n1. first\n2) second\n"
      "> quoted **b**\n>> deeper\n> - listed\n\n---\n* * *\nend\n#hashtag";
  CHECK(markdown_to_html(md) ==
        "<b>Title</b>\n<b>Sub</b>\n• one\n• two\n• three\n  • nested\n1. first\n2) second\n"
        "<blockquote>quoted <b>b</b>\ndeeper\n• listed</blockquote>\n\n———\n———\nend\n#hashtag");
  CHECK(markdown_to_plain(md) ==
        "Title\nSub\n• one\n• two\n• three\n  • nested\n1. first\n2) second\n"
        "> quoted b\n> deeper\n> • listed\n\n———\n———\nend\n#hashtag");
  // Blank lines collapse to one; surrounding space goes.
  CHECK(markdown_to_html("\n\n  a\n\n\n\nb\n\n") == "a\n\nb");
  CHECK(markdown_to_html("a\r\nb\rc") == "a\nb\nc");
}

TEST_CASE("telegram format: plain text rendering", "[telegram][format]") {
  CHECK(markdown_to_plain("**b** _i_ ~~s~~ `c < d` [t](https://x.y) [https://x.y](https://x.y)") ==
        "b i s c < d t (https://x.y) https://x.y");
  CHECK(markdown_to_plain("[click](javascript:x)") == "click (javascript:x)");
  CHECK(markdown_to_plain("```py\nprint(**x**)\n```") == "print(**x**)");
  CHECK(markdown_to_plain("a & b < c") == "a & b < c");
}

TEST_CASE("telegram format: invalid UTF-8 is replaced before rendering", "[telegram][format]") {
  const std::string md = "**bad \xC0\xAF byte** and `\xED\xA0\x80` and [\xFF](https://x.y/\xE2\x82)";
  const std::string html = markdown_to_html(md);
  CHECK_FALSE(html_problem(html));
  CHECK(html.find("\xEF\xBF\xBD") != std::string::npos);
  CHECK(html_problem("ok \xC0\xAF").value_or("").find("invalid UTF-8") != std::string::npos);
  CHECK(sanitize_utf8(markdown_to_plain(md)) == markdown_to_plain(md));
}

TEST_CASE("telegram format: html_problem finds bad markup", "[telegram][format]") {
  CHECK_FALSE(html_problem(""));
  CHECK_FALSE(html_problem("<b>a <i>b</i></b> &lt;&gt;&amp;&quot;&#128512;&#x1F600;"));
  CHECK_FALSE(html_problem("<pre><code class=\"language-c++\">x</code></pre><blockquote expandable>q</blockquote>"));
  CHECK(html_problem("<b>x"));
  CHECK(html_problem("<b>x</i>"));
  CHECK(html_problem("x</b>"));
  CHECK(html_problem("<div>x</div>"));
  CHECK(html_problem("a < b"));
  CHECK(html_problem("a > b"));
  CHECK(html_problem("a & b"));
  CHECK(html_problem("&nbsp;"));
  CHECK(html_problem("&#xD800;"));
  CHECK(html_problem("&#0;"));
  CHECK(html_problem("<a href=\"javascript:x\">x</a>"));
  CHECK(html_problem("<a>x</a>"));
  CHECK(html_problem("<a href=\"https://a\"><a href=\"https://b\">x</a></a>"));
  CHECK(html_problem("<code><b>x</b></code>"));
  CHECK(html_problem("<b><pre>x</pre></b>"));
  CHECK(html_problem("<blockquote><blockquote>x</blockquote></blockquote>"));
  CHECK(html_problem("<pre>x<code>y</code></pre>"));
  CHECK(html_problem("<code class=\"language-x\">y</code>"));
  CHECK(html_problem("<b class=\"x\">y</b>"));
  CHECK(html_problem("<a href=\"https://a\"<b>x</b></a>"));
}

TEST_CASE("telegram format: a long answer splits into valid chunks", "[telegram][format]") {
  const std::string md = long_answer(10000);
  REQUIRE(utf16_length(md) >= 10000);
  const std::string html = markdown_to_html(md);
  REQUIRE_FALSE(html_problem(html));
  REQUIRE(utf16_length(visible(html)) > 2 * 4096);
  check_split(html, 4096);
  const auto chunks = split_html(html, 4096);
  CHECK(chunks.size() >= 3);
  // The code block was cut: closed at the end of one chunk, reopened at the start of the next.
  bool reopened = false;
  for (std::size_t i = 1; i < chunks.size(); ++i) {
    if (chunks[i].starts_with("<pre><code class=\"language-python\">")) {
      reopened = true;
      CHECK(chunks[i - 1].ends_with("</code></pre>"));
    }
  }
  CHECK(reopened);
  check_split_plain(markdown_to_plain(md), 4096);
}

TEST_CASE("telegram format: a code block longer than the limit is closed and reopened", "[telegram][format]") {
  std::string md = "Intro line.\n```python\n";
  for (int i = 0; i < 300; ++i) md += "    value_" + std::to_string(i) + " = a < b && c  # note\n";
  md += "```\nAfter.";
  const std::string html = markdown_to_html(md);
  const auto chunks = split_html(html, 4096);
  REQUIRE(chunks.size() >= 3);
  // The intro is shorter than half the limit, so it shares the first chunk with code.
  CHECK(chunks[0].starts_with("Intro line.\n<pre><code class=\"language-python\">    value_0 = a &lt; b"));
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
    CHECK(chunks[i].ends_with("</code></pre>"));
    if (i == 0) continue;
    // Cut at line ends; the next line's indentation is code and is kept.
    CHECK(chunks[i].starts_with("<pre><code class=\"language-python\">    value_"));
  }
  check_split(html, 4096);
}

TEST_CASE("telegram format: emoji and surrogate pairs are never split", "[telegram][format]") {
  for (std::string_view prefix : {"", "a", "ab"}) {
    const std::string text = std::string(prefix) + repeat("😀", 3000);
    for (const auto& chunks : {split_html(text, 4096), split_plain(text, 4096)}) {
      std::size_t total = 0;
      for (const auto& c : chunks) {
        CHECK(sanitize_utf8(c) == c);
        CHECK(utf16_length(c) <= 4096);
        // Full but for the one unit an emoji could not fill; only the last chunk is short.
        if (&c != &chunks.back()) CHECK(utf16_length(c) >= 4095);
        total += utf16_length(c);
      }
      CHECK(chunks.size() == 2);
      CHECK(total == prefix.size() + 6000);
    }
  }
  // A numeric entity for an astral character counts 2 units and is never cut.
  const auto chunks = split_html(repeat("&#128512;", 10), 5);
  CHECK(chunks.size() == 5);
  for (const auto& c : chunks) CHECK(c == "&#128512;&#128512;");
  // An accent or the rest of a ZWJ sequence stays with its base character when it can.
  CHECK(split_plain("aaaae\u0301", 5) == std::vector<std::string>{"aaaa", "e\u0301"});
  const std::string family = "👩\u200D👩\u200D👧";  // 8 UTF-16 units
  CHECK(split_plain("ab " + family, 10) == std::vector<std::string>{"ab", family});
  CHECK(split_plain("abc" + family, 9) == std::vector<std::string>{"abc", family});
  CHECK(split_plain(family, 6) == std::vector<std::string>{"👩\u200D👩\u200D", "👧"});
  // A chunk that starts right at a code block whose first character has an accent.
  check_split("<pre><code class=\"language-py\">\u200De\u0301xyz</code></pre>", 2);
  // Wider than the limit: goes alone rather than looping forever.
  CHECK(split_plain("😀😀", 1) == std::vector<std::string>{"😀", "😀"});
}

TEST_CASE("telegram format: a single long word is cut hard", "[telegram][format]") {
  const std::string word(5000, 'x');
  const auto chunks = split_plain(word, 4096);
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].size() == 4096);
  CHECK(chunks[1].size() == 904);
  const auto html = split_html("hello " + word, 4096);
  REQUIRE(html.size() == 2);
  CHECK(html[0] == "hello " + std::string(4090, 'x'));
  // Entities are one character and are never cut.
  const auto amps = split_html(repeat("&amp;", 10), 3);
  CHECK(amps == std::vector<std::string>{"&amp;&amp;&amp;", "&amp;&amp;&amp;", "&amp;&amp;&amp;", "&amp;"});
}

TEST_CASE("telegram format: cut at the best boundary past half the limit", "[telegram][format]") {
  // A paragraph break past half the limit wins over a later line break or space.
  CHECK(split_plain("aaaaaaa\n\nbbb\nccc ddd", 20) == std::vector<std::string>{"aaaaaaa\n\nbbb\nccc ddd"});
  CHECK(split_plain("aaaaaaaaaa\n\nbb\ncc dd eeee", 20) == std::vector<std::string>{"aaaaaaaaaa", "bb\ncc dd eeee"});
  // Below half, a paragraph break loses to a later line break.
  CHECK(split_plain("aaaaaaaa\n\nbb\ncc dd eeee", 20) == std::vector<std::string>{"aaaaaaaa\n\nbb", "cc dd eeee"});
  CHECK(split_plain("aaaaaaaaaaaa\n\nbb\ncc dd eeee", 20) == std::vector<std::string>{"aaaaaaaaaaaa", "bb\ncc dd eeee"});
  // A paragraph break below half the limit loses to a later line break.
  CHECK(split_plain("aa\n\nbbbbbbbbbb\ncccccccccc", 20) == std::vector<std::string>{"aa\n\nbbbbbbbbbb", "cccccccccc"});
  // Below half everywhere: hard cut at the limit.
  CHECK(split_plain("a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 10) ==
        std::vector<std::string>{"a bbbbbbbb", "bbbbbbbbbb", "bbbbbbbbbb", "bb"});
  // Whitespace at the cut and around the text is dropped; nothing blank comes out.
  CHECK(split_plain("  one two   three  ", 7) == std::vector<std::string>{"one two", "three"});
  CHECK(split_plain("", 10).empty());
  CHECK(split_plain(" \n\t ", 10).empty());
  CHECK(split_html("", 10).empty());
  CHECK(split_html("<b> \n </b>", 10).empty());
}

TEST_CASE("telegram format: tags open at a cut are closed and reopened", "[telegram][format]") {
  const auto chunks = split_html("<b>one two <i>three four</i> five</b> six", 10);
  CHECK(chunks == std::vector<std::string>{"<b>one two</b>", "<b><i>three four</i></b>", "<b>five</b> six"});
  const auto link = split_html("<a href=\"https://x.y/?a=1&amp;b=2\">alpha beta gamma</a>", 11);
  CHECK(link == std::vector<std::string>{"<a href=\"https://x.y/?a=1&amp;b=2\">alpha beta</a>",
                                         "<a href=\"https://x.y/?a=1&amp;b=2\">gamma</a>"});
  const auto quote = split_html("<blockquote>line one\nline two</blockquote>", 9);
  CHECK(quote == std::vector<std::string>{"<blockquote>line one</blockquote>", "<blockquote>line two</blockquote>"});
  // No empty element where a tag opens right at the cut.
  const auto edge = split_html("aaaa <b>bbbb</b>", 4);
  CHECK(edge == std::vector<std::string>{"aaaa", "<b>bbbb</b>"});
}

TEST_CASE("telegram format: random markdown always renders and splits to valid HTML", "[telegram][format]") {
  const std::vector<std::string_view> pieces = {
      "*", "**", "***", "_", "__", "~~", "~", "`", "``", "```", "```py\n", "\n```\n", "~~~\n", "[", "]", "](", "(", ")",
      "](https://e.com/a_b)", "](javascript:x)", "https://x.y/a*b_c ", "<", ">", "&", "&amp;", "&#128512;", "\"",
      "'", "#", "# ", "## ", "- ", "* ", "+ ", "> ", ">> ", "1. ", "2) ", "---", "\n", "\n\n", " ", "  ", "\t",
      "a", "word", "Bold", "snake_case", "2*3", "x", "😀", "🦊", "中文", "é", "\xC0", "\xFF", "\xE2\x82", "\xED\xA0\x80",
      "\\", "\\*", "<b>", "</i>", "\r\n", "![", "__init__", "e\u0301", "\u200D", "    "};
  std::mt19937 rng(20240607);
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> count(0, 60);
  int failures = 0;
  for (int n = 0; n < 3000 && failures < 5; ++n) {
    std::string md;
    for (int k = count(rng); k > 0; --k) md += pieces[pick(rng)];
    const std::string html = markdown_to_html(md);
    const auto problem = html_problem(html);
    if (problem) {
      ++failures;
      FAIL_CHECK("markdown " << md << "\nhtml " << html << "\nproblem " << *problem);
      continue;
    }
    const std::string plain = markdown_to_plain(md);
    CHECK(sanitize_utf8(plain) == plain);
    const std::size_t limit = std::array<std::size_t, 4>{7, 50, 300, 4096}[n % 4];
    for (const auto& c : split_html(html, limit)) {
      const auto p = html_problem(c);
      const bool ok = !p && utf16_length(visible(c)) <= limit && !is_blank(visible(c));
      if (!ok) {
        ++failures;
        FAIL_CHECK("markdown " << md << "\nhtml " << html << "\nlimit " << limit << " chunk " << c << "\nproblem "
                               << p.value_or("(too long or blank)"));
      }
    }
    for (const auto& c : split_plain(plain, limit)) {
      if (utf16_length(c) > limit || is_blank(c) || sanitize_utf8(c) != c) {
        ++failures;
        FAIL_CHECK("plain " << plain << "\nlimit " << limit << " chunk " << c);
      }
    }
  }
  CHECK(failures == 0);
  // The visible text survives splitting (apart from whitespace at the cuts).
  for (int n = 0; n < 300; ++n) {
    std::string md;
    for (int k = count(rng); k > 0; --k) md += pieces[pick(rng)];
    check_split(markdown_to_html(md), 7 + static_cast<std::size_t>(n % 40));
    check_split_plain(markdown_to_plain(md), 7 + static_cast<std::size_t>(n % 40));
  }
  // Arbitrary bytes do not crash the splitter and still respect the limit.
  std::uniform_int_distribution<int> byte(0, 255);
  for (int n = 0; n < 300; ++n) {
    std::string junk;
    for (int k = count(rng); k > 0; --k) junk += static_cast<char>(byte(rng) % 3 == 0 ? "<>&;/ab\n"[byte(rng) % 8] : byte(rng));
    for (const auto& c : split_html(junk, 7)) CHECK(sanitize_utf8(c) == c);
  }
}

TEST_CASE("telegram format: time to render and split a 10000-character answer", "[.bench]") {
  const std::string md = long_answer(10000);
  constexpr int rounds = 200;
  std::size_t chunks = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) chunks += split_html(markdown_to_html(md), 4096).size();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
  WARN("render + split of " << md.size() << " bytes of Markdown into " << chunks / rounds << " chunks: "
                            << static_cast<double>(us) / rounds << " us each");
}
