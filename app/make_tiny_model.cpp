// openclawd-make-model: writes a tiny GGUF model (core/gguf.hpp) for demos, tests and benchmarks,
// since no real model can be downloaded on the development and CI machines.
// Exit codes: 0 written, 1 could not write, 2 usage error.

#include "core/gguf.hpp"

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage: openclawd-make-model [--kind random|unused50|hello|story] [--seed N] [--ctx N] OUTPUT.gguf\n"
    "\n"
    "Writes a ~0.6 MB llama-architecture model that the real llama-server loads in ~0.1 s.\n"
    "  --kind random    random weights: gibberish replies until max_tokens (default)\n"
    "  --kind unused50  answers <unused50><unused50>... forever (the broken-model story)\n"
    "  --kind hello     answers \"Hello, world!\" and stops (finish_reason \"stop\")\n"
    "  --kind story     answers an endless plain-text story (\"Once upon a time, ...\", four\n"
    "                   paragraphs, 1272 bytes, over and over) until max_tokens; ~0.75 MB\n"
    "  --seed N         weights seed (default 1); the same seed gives the same file\n"
    "  --ctx N          llama.context_length, the training context (default 32768)\n"
    "The file is written to a temporary name and renamed, so readers never see half a model.\n";

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "openclawd-make-model: %s\n%s", message.c_str(), usage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using openclawd::core::tiny_model_kind;
  tiny_model_kind kind = tiny_model_kind::random;
  openclawd::core::tiny_model_options options;
  std::string output;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (arg == "--kind") {
      const char* v = value();
      auto k = v ? openclawd::core::parse_tiny_model_kind(v) : std::nullopt;
      if (!k) return usage_error("--kind needs one of random, unused50, hello, story");
      kind = *k;
    } else if (arg == "--seed") {
      const char* v = value();
      if (!v || !parse_number(v, options.seed)) return usage_error("--seed needs a number");
    } else if (arg == "--ctx") {
      const char* v = value();
      if (!v || !parse_number(v, options.context_length) || options.context_length == 0) {
        return usage_error("--ctx needs a positive number");
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage_error("unknown option " + std::string(arg));
    } else if (output.empty()) {
      output = arg;
    } else {
      return usage_error("only one OUTPUT file");
    }
  }
  if (output.empty()) return usage_error("missing OUTPUT.gguf");

  std::string why;
  if (auto r = openclawd::core::write_tiny_model(output, kind, options, &why); !r) {
    std::fprintf(stderr, "openclawd-make-model: %s\n", why.c_str());
    return 1;
  }
  return 0;
}
