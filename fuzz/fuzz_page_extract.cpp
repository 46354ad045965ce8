// libFuzzer target: tools/page_extract, which reads whatever bytes a remote server sends. The
// first input byte picks the Content-Type (HTML with or without a charset, none so the bytes are
// sniffed, text, Markdown, JSON, PDF, an image) and the next two a max_chars; the rest is the
// body. Whatever the bytes: no crash, leak or hang; text and title are valid UTF-8; the text
// has at most max_chars code points and ends with "…" exactly when it was cut (max_chars > 0);
// a note comes with every status but ok.
#include "fuzz/fuzz_support.hpp"
#include "tools/page_extract.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace openclawd::tools;
using openclawd::fuzz::valid_utf8;

namespace {

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

constexpr std::array<std::string_view, 12> types = {
    "text/html",        "text/html; charset=windows-1252", "text/html; charset=shift_jis", "",
    "text/plain",       "text/plain; charset=utf-16le",   "text/markdown",                "application/json",
    "application/pdf",  "image/png",                      "application/xhtml+xml; charset=gbk",
    "application/octet-stream"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view type = types[data[0] % types.size()];
  extract_options options;
  const unsigned cap = (static_cast<unsigned>(data[1]) << 8) | data[2];
  options.max_chars = cap % 4 == 0 ? 50000 : cap % 2000;
  options.truncated_body = (data[0] & 0x80) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
  const extracted_page p = extract_page(type, body, "https://example.com/", options);
  FUZZ_CHECK(valid_utf8(p.text));
  FUZZ_CHECK(valid_utf8(p.title));
  FUZZ_CHECK(code_points(p.text) <= options.max_chars);
  FUZZ_CHECK(code_points(p.title) <= 300);
  if (p.cut && options.max_chars > 0) FUZZ_CHECK(p.text.ends_with("\u2026"));
  FUZZ_CHECK((p.status == extract_status::ok) == p.note.empty());
  if (p.status != extract_status::ok) FUZZ_CHECK(p.text.empty());
  return 0;
}
