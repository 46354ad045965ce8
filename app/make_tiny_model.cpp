// openclawd-make-model: writes tiny GGUF models (core/gguf.hpp) for demos, tests and benchmarks,
// since no real model can be downloaded on the development and CI machines. With --tokenizer
// they carry a real model family's vocabulary and chat template (core/tokenizer_import.hpp), so
// llama-server tokenizes, renders and stops as with the family's real exports; only the weights
// are fake. Several models can come from one parse of the tokenizer (--out-dir): a 262K-token
// tokenizer.json takes about a second to read, most of the time of writing a model.
// Exit codes: 0 written, 1 could not read or write, 2 usage error.

#include "core/gguf.hpp"
#include "core/tokenizer_import.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: openclawd-make-model [OPTIONS] OUTPUT.gguf\n"
    "       openclawd-make-model [OPTIONS] --out-dir DIR --kind KIND[,KIND...]\n"
    "\n"
    "Writes tiny GGUF models that the real llama-server loads and answers with deterministically.\n"
    "Without --tokenizer: a ~0.6 MB llama-architecture model with a toy vocabulary, loaded in ~0.1 s.\n"
    "  --kind random    random weights: gibberish replies until max_tokens (default)\n"
    "  --kind unused50  answers the unused token forever (the broken-model story): <unused50>;\n"
    "                   with --tokenizer the family's (Gemma <unused50>, Llama 3\n"
    "                   <|reserved_special_token_50|>, Mistral <SPECIAL_50>, Qwen3 <|vision_pad|>)\n"
    "  --kind hello     answers \"Hello, world!\" and stops (finish_reason \"stop\")\n"
    "  --kind story     answers an endless plain-text story until max_tokens (toy: \"Once upon a\n"
    "                   time, ...\", four paragraphs, 1272 bytes, over and over; ~0.75 MB)\n"
    "  --kind think     (a vocabulary with <think>, e.g. Qwen3) \"<think>...</think>\" + \"\\n\\n\" +\n"
    "                   \"Hello, world!\"; straight to \"Hello, world!\" after a prompt ending in\n"
    "                   \"</think>\\n\\n\" (enable_thinking false)\n"
    "  --seed N         weights seed (default 1); the same seed gives the same file\n"
    "  --ctx N          <arch>.context_length, the training context (default 32768)\n"
    "\n"
    "A real model family's vocabulary (n_embd 16, F16 embeddings; ~23 MB with Gemma's 262K tokens):\n"
    "  --tokenizer DIR  DIR/tokenizer.json and DIR/tokenizer_config.json (Hugging Face's files, e.g.\n"
    "                   .deps/tokenizers/<family>/ from scripts/setup.sh): the tokens, merges or\n"
    "                   scores, special tokens and chat template, as llama.cpp's converter writes them\n"
    "  --unused-as-text type the family's unused tokens USER_DEFINED (streamed as text, as some\n"
    "                   exports do) instead of CONTROL (streamed as nothing, as real Gemma GGUFs)\n"
    "  --unused-token T the token the unused50 kind emits\n"
    "  --pre NAME       tokenizer.ggml.pre for byte-level BPE (default: from the pre-tokenizer\n"
    "                   regex: qwen2, llama-bpe or tekken)\n"
    "  --chat-template FILE  embed this Jinja template instead of the tokenizer's\n"
    "  --arch llama|gemma3   gemma3: 6 blocks, 5 of them sliding-window, Gemma 3's norms (default llama)\n"
    "  --swa N          gemma3's sliding window in tokens (default 512)\n"
    "  --embd N         embedding length (default 16 with --tokenizer, 64 without)\n"
    "\n"
    "--out-dir DIR writes every KIND of the list into DIR from one read of the tokenizer. A KIND\n"
    "may carry variants: KIND:text (as --unused-as-text) and KIND:gemma3 (as --arch gemma3), e.g.\n"
    "  --kind hello,unused50,unused50:text,hello:gemma3 -> DIR/hello.gguf, DIR/unused50.gguf,\n"
    "  DIR/unused50-text.gguf, DIR/hello-gemma3.gguf\n"
    "Files are written to a temporary name and renamed, so readers never see half a model.\n";

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "openclawd-make-model: %s\n%s", message.c_str(), usage);
  return 2;
}

// One model to write: a kind and its variants, from "--kind" or an --out-dir list entry.
struct model_spec {
  openclawd::core::tiny_model_kind kind{};
  bool text = false;    // :text
  bool gemma3 = false;  // :gemma3
  std::string file_stem;
};

std::optional<model_spec> parse_spec(std::string_view item) {
  model_spec spec;
  const auto colon = item.find(':');
  const auto kind = openclawd::core::parse_tiny_model_kind(item.substr(0, colon));
  if (!kind) return std::nullopt;
  spec.kind = *kind;
  spec.file_stem = std::string(item.substr(0, colon));
  std::string_view rest = colon == std::string_view::npos ? std::string_view() : item.substr(colon + 1);
  while (colon != std::string_view::npos) {
    const auto next = rest.find(':');
    const auto variant = rest.substr(0, next);
    if (variant == "text") {
      spec.text = true;
    } else if (variant == "gemma3") {
      spec.gemma3 = true;
    } else {
      return std::nullopt;
    }
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  if (spec.text) spec.file_stem += "-text";
  if (spec.gemma3) spec.file_stem += "-gemma3";
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  namespace core = openclawd::core;
  core::tiny_model_options options;
  core::tokenizer_import_options import_options;
  std::string kinds = "random";
  std::string output, out_dir, tokenizer_dir, template_file;
  bool unused_as_text = false, gemma3 = false;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (arg == "--kind") {
      const char* v = value();
      if (!v) return usage_error("--kind needs a kind");
      kinds = v;
    } else if (arg == "--seed") {
      const char* v = value();
      if (!v || !parse_number(v, options.seed)) return usage_error("--seed needs a number");
    } else if (arg == "--ctx") {
      const char* v = value();
      if (!v || !parse_number(v, options.context_length) || options.context_length == 0) {
        return usage_error("--ctx needs a positive number");
      }
    } else if (arg == "--tokenizer") {
      const char* v = value();
      if (!v) return usage_error("--tokenizer needs a folder");
      tokenizer_dir = v;
    } else if (arg == "--unused-as-text") {
      unused_as_text = true;
    } else if (arg == "--unused-token") {
      const char* v = value();
      if (!v || !*v) return usage_error("--unused-token needs a token");
      options.unused_token = v;
    } else if (arg == "--pre") {
      const char* v = value();
      if (!v || !*v) return usage_error("--pre needs a name");
      import_options.pre = v;
    } else if (arg == "--chat-template") {
      const char* v = value();
      if (!v) return usage_error("--chat-template needs a file");
      template_file = v;
    } else if (arg == "--arch") {
      const char* v = value();
      if (!v || (std::string_view(v) != "llama" && std::string_view(v) != "gemma3")) {
        return usage_error("--arch needs llama or gemma3");
      }
      gemma3 = std::string_view(v) == "gemma3";
    } else if (arg == "--swa") {
      const char* v = value();
      if (!v || !parse_number(v, options.sliding_window) || options.sliding_window == 0) {
        return usage_error("--swa needs a positive number");
      }
    } else if (arg == "--embd") {
      const char* v = value();
      if (!v || !parse_number(v, options.embedding_length)) return usage_error("--embd needs a number");
    } else if (arg == "--out-dir") {
      const char* v = value();
      if (!v) return usage_error("--out-dir needs a folder");
      out_dir = v;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage_error("unknown option " + std::string(arg));
    } else if (output.empty()) {
      output = arg;
    } else {
      return usage_error("only one OUTPUT file");
    }
  }

  std::vector<model_spec> specs;
  for (std::size_t start = 0; start <= kinds.size();) {
    const auto comma = std::min(kinds.find(',', start), kinds.size());
    auto spec = parse_spec(std::string_view(kinds).substr(start, comma - start));
    if (!spec) return usage_error("--kind needs random, unused50, hello, story or think (with :text, :gemma3)");
    specs.push_back(*spec);
    start = comma + 1;
  }
  if (out_dir.empty()) {
    if (output.empty()) return usage_error("missing OUTPUT.gguf (or --out-dir)");
    if (specs.size() != 1) return usage_error("several kinds need --out-dir");
  } else if (!output.empty()) {
    return usage_error("give OUTPUT.gguf or --out-dir, not both");
  }

  std::string why;
  if (!template_file.empty()) {
    std::ifstream in(template_file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in || ss.str().empty()) {
      std::fprintf(stderr, "openclawd-make-model: %s: cannot read the chat template\n", template_file.c_str());
      return 1;
    }
    options.chat_template = ss.str();
  }
  std::optional<core::tokenizer_vocab> vocab;
  if (!tokenizer_dir.empty()) {
    auto v = core::import_tokenizer(tokenizer_dir, import_options, &why);
    if (!v) {
      std::fprintf(stderr, "openclawd-make-model: %s\n", why.c_str());
      return 1;
    }
    vocab = std::move(*v);
    options.vocab = &*vocab;
  }

  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) {
      std::fprintf(stderr, "openclawd-make-model: %s: cannot create: %s\n", out_dir.c_str(), ec.message().c_str());
      return 1;
    }
  }
  for (const auto& spec : specs) {
    core::tiny_model_options o = options;
    o.unused_as_text = unused_as_text || spec.text;
    o.arch = gemma3 || spec.gemma3 ? core::tiny_model_arch::gemma3 : core::tiny_model_arch::llama;
    const std::filesystem::path path =
        out_dir.empty() ? std::filesystem::path(output) : std::filesystem::path(out_dir) / (spec.file_stem + ".gguf");
    if (auto r = core::write_tiny_model(path, spec.kind, o, &why); !r) {
      std::fprintf(stderr, "openclawd-make-model: %s: %s\n", path.c_str(), why.c_str());
      return 1;
    }
  }
  return 0;
}
