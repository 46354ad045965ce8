// Model references, file selection and the lock file. The selection follows llama.cpp's
// `-hf owner/repo:QUANT` (common/download.cpp): a quant matches a GGUF file whose name holds
// "<QUANT>." or "<QUANT>-" (case-insensitive), projectors and the like are never the model, and
// a split model is all parts with the first part's prefix and count. The same reference thus
// names the same file here as in llama-server.
#include "core/model_ref.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace openclawd::core {
namespace fs = std::filesystem;
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool base_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// A Hub owner or repository name: base characters, with '-' and '.' only between them.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 96) return false;
  bool after_special = true;
  for (char c : s) {
    if (base_char(c)) {
      after_special = false;
    } else if (c == '-' || c == '.') {
      if (after_special) return false;
      after_special = true;
    } else {
      return false;
    }
  }
  return !after_special;
}

// A file path inside the repository: no absolute path, no "..", no empty segment, no control
// characters; it becomes a path under the cache, so it must stay there.
bool valid_file(std::string_view s) {
  if (s.empty() || s.front() == '/' || s.back() == '/') return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto end = std::min(s.find('/', start), s.size());
    const auto seg = s.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg)
      if (static_cast<unsigned char>(c) < 0x20 || c == '\\' || c == ':' || c == '?' || c == '#') return false;
    start = end + 1;
  }
  return true;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && upper(s.substr(s.size() - suffix.size())) == upper(suffix);
}

std::string_view basename_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// A GGUF that is a model, not a projector, importance matrix or draft/speculative head.
bool is_model_file(std::string_view path) {
  if (!ends_with_ci(path, ".gguf")) return false;
  const std::string name(basename_of(path));
  for (const char* word : {"mmproj", "imatrix", "mtp-", "eagle3-", "dflash-", "dspark-"})
    if (name.find(word) != std::string::npos) return false;
  return true;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "x-Q4_K_M.gguf" holds the tag "Q4_K_M" followed by '.' or '-' (llama.cpp's `TAG[.-]`).
bool holds_tag(std::string_view path, std::string_view tag) {
  const std::string p = upper(path), t = upper(tag);
  for (auto at = p.find(t); at != std::string::npos; at = p.find(t, at + 1)) {
    const auto after = at + t.size();
    // "F16" is not the tag of "x-BF16.gguf": the tag starts a word.
    const bool starts_word = at == 0 || std::isalnum(static_cast<unsigned char>(p[at - 1])) == 0;
    if (starts_word && after < p.size() && (p[after] == '.' || p[after] == '-')) return true;
  }
  return false;
}

}  // namespace

std::string model_ref::text() const {
  std::string out = "hf:" + owner + "/" + repo;
  if (!file.empty()) return out + "/" + file;
  if (!quant.empty()) return out + ":" + quant;
  return out;
}

bool is_model_ref(std::string_view text) { return text.rfind("hf:", 0) == 0; }

bool is_safe_repo_path(std::string_view path) { return valid_file(path); }

std::optional<model_ref> parse_model_ref(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<model_ref> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  constexpr std::string_view form = "write hf:owner/repo:QUANT (e.g. hf:bartowski/gemma-3-27b-it-GGUF:Q4_K_M) or "
                                    "hf:owner/repo/file.gguf";
  if (!is_model_ref(text)) return fail("a model reference starts with hf:; " + std::string(form));
  std::string_view rest = text.substr(3);
  model_ref r;
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return fail("no repository in \"" + std::string(text) + "\"; " + std::string(form));
  r.owner = std::string(rest.substr(0, slash));
  rest = rest.substr(slash + 1);
  const auto next_slash = rest.find('/');
  if (next_slash != std::string_view::npos) {
    r.repo = std::string(rest.substr(0, next_slash));
    r.file = std::string(rest.substr(next_slash + 1));
    if (!valid_file(r.file)) return fail("\"" + r.file + "\" is not a file path inside the repository");
    if (!ends_with_ci(r.file, ".gguf")) return fail("\"" + r.file + "\" is not a .gguf file");
  } else {
    const auto colon = rest.find(':');
    r.repo = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      r.quant = upper(rest.substr(colon + 1));
      if (r.quant.empty() || !std::all_of(r.quant.begin(), r.quant.end(), base_char))
        return fail("\"" + std::string(rest.substr(colon + 1)) +
                    "\" is not a quant tag (letters, digits and _, such as Q4_K_M, Q8_0, F16)");
    }
  }
  if (!valid_name(r.owner)) return fail("\"" + r.owner + "\" is not a valid owner name on the Hub");
  if (!valid_name(r.repo)) return fail("\"" + r.repo + "\" is not a valid repository name on the Hub");
  return r;
}

gguf_split split_of(std::string_view path) {
  gguf_split s;
  std::string_view stem = path;
  if (ends_with_ci(stem, ".gguf")) stem.remove_suffix(5);
  // "-00001-of-00003": 15 characters, five digits each side.
  if (stem.size() > 15) {
    const auto tail = stem.substr(stem.size() - 15);
    if (tail[0] == '-' && all_digits(tail.substr(1, 5)) && tail.substr(6, 4) == "-of-" && all_digits(tail.substr(10, 5))) {
      s.index = std::stoi(std::string(tail.substr(1, 5)));
      s.count = std::stoi(std::string(tail.substr(10, 5)));
      stem.remove_suffix(15);
    }
  }
  s.prefix = std::string(stem);
  return s;
}

std::string quant_of(std::string_view path) {
  const std::string stem = split_of(basename_of(path)).prefix;
  // The last '-' or '.' separated word that looks like a quant: starts with Q, IQ, F, BF or
  // TQ and holds a digit ("Q4_K_M", "IQ2_XXS", "F16", "BF16", "MXFP4").
  const auto cut = stem.find_last_of("-.");
  std::string tag = upper(cut == std::string::npos ? stem : stem.substr(cut + 1));
  if (tag.empty() || tag.find_first_of("0123456789") == std::string::npos) return {};
  if (!std::all_of(tag.begin(), tag.end(), base_char)) return {};
  return tag;
}

std::vector<std::string> available_quants(const std::vector<hub_file>& tree) {
  std::set<std::string> tags;
  for (const auto& f : tree) {
    if (!is_model_file(f.path)) continue;
    if (auto q = quant_of(f.path); !q.empty()) tags.insert(q);
  }
  return {tags.begin(), tags.end()};
}

boost::system::result<std::vector<hub_file>, std::string> select_files(const model_ref& ref,
                                                                        const std::vector<hub_file>& tree) {
  const hub_file* first = nullptr;
  if (!ref.file.empty()) {
    for (const auto& f : tree)
      if (upper(f.path) == upper(ref.file)) first = &f;
    if (first == nullptr) {
      std::string listed;
      for (const auto& f : tree)
        if (ends_with_ci(f.path, ".gguf")) listed += (listed.empty() ? "" : ", ") + f.path;
      return boost::system::result<std::vector<hub_file>, std::string>(
          boost::system::in_place_error, ref.repo_id() + " has no file " + ref.file +
                                             (listed.empty() ? "; it holds no .gguf file" : "; its GGUF files: " + listed));
    }
  } else {
    const std::vector<std::string> tags =
        ref.quant.empty() ? std::vector<std::string>{"Q4_K_M", "Q8_0"} : std::vector<std::string>{ref.quant};
    for (const auto& tag : tags) {
      for (const auto& f : tree) {
        if (!is_model_file(f.path) || !holds_tag(f.path, tag)) continue;
        if (split_of(f.path).index != 1) continue;  // a later part: the first one stands for them
        first = &f;
        break;
      }
      if (first) break;
    }
    if (first == nullptr && ref.quant.empty()) {
      for (const auto& f : tree)
        if (is_model_file(f.path) && split_of(f.path).index == 1) {
          first = &f;
          break;
        }
    }
    if (first == nullptr) {
      const auto quants = available_quants(tree);
      std::string listed;
      for (const auto& q : quants) listed += (listed.empty() ? "" : ", ") + q;
      std::string msg = ref.quant.empty() ? ref.repo_id() + " holds no GGUF model file"
                                          : ref.repo_id() + " has no " + ref.quant + " quant";
      msg += listed.empty() ? "; it holds no GGUF model files" : "; available: " + listed;
      return boost::system::result<std::vector<hub_file>, std::string>(boost::system::in_place_error, msg);
    }
  }
  std::vector<hub_file> out{*first};
  const auto split = split_of(first->path);
  if (split.count > 1) {
    std::vector<hub_file> parts(static_cast<std::size_t>(split.count));
    for (const auto& f : tree) {
      const auto s = split_of(f.path);
      if (s.count == split.count && s.prefix == split.prefix && s.index >= 1 && s.index <= split.count)
        parts[static_cast<std::size_t>(s.index - 1)] = f;
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].path.empty()) {
        char part[64];  // room for any size_t and int: GCC's -Wformat-truncation counts them all
        std::snprintf(part, sizeof part, "-%05zu-of-%05d.gguf", i + 1, split.count);
        return boost::system::result<std::vector<hub_file>, std::string>(
            boost::system::in_place_error,
            ref.repo_id() + " lacks part " + split.prefix + part + " of the split model " + first->path);
      }
    }
    out = std::move(parts);
  }
  return out;
}

const locked_model* model_lock::find(std::string_view ref) const {
  for (const auto& m : models)
    if (m.ref == ref) return &m;
  return nullptr;
}

void model_lock::put(locked_model m) {
  for (auto& old : models)
    if (old.ref == m.ref) {
      old = std::move(m);
      return;
    }
  models.push_back(std::move(m));
}

fs::path default_model_cache_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg && fs::path(xdg).is_absolute())
    return (fs::path(xdg) / "openclawd" / "models").lexically_normal();
  const char* home = std::getenv("HOME");
  const fs::path h = home && *home ? fs::path(home) : fs::path("/");
#ifdef __APPLE__
  return h / "Library/Application Support/openclawd/models";
#else
  return (h / ".local/share/openclawd/models").lexically_normal();
#endif
}

fs::path lock_file_of(const fs::path& cache_dir) {
  fs::path dir = cache_dir;
  if (!dir.has_filename()) dir = dir.parent_path();  // "…/models/" → "…/models"
  return dir.parent_path() / (dir.filename().string() + ".lock");
}

fs::path cached_file_path(const fs::path& cache_dir, const std::string& repo_id, const std::string& revision,
                          const std::string& file) {
  std::string folder = repo_id;
  if (const auto slash = folder.find('/'); slash != std::string::npos) folder.replace(slash, 1, "--");
  return cache_dir / folder / revision / file;
}

boost::system::result<model_lock, std::string> read_model_lock(const fs::path& file) {
  using R = boost::system::result<model_lock, std::string>;
  std::error_code ec;
  if (!fs::exists(file, ec)) return model_lock{};
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) return R(boost::system::in_place_error, "cannot read the lock file " + file.string());
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("models") || !j["models"].is_array())
    return R(boost::system::in_place_error, "the lock file " + file.string() + " is not valid (delete it and run `openclawd pull`)");
  // A hand-edited (or damaged) file may hold any type anywhere: read only what has the right
  // type (json::value() would throw on a wrong one).
  auto text_of = [](const nlohmann::json& o, const char* key) {
    const auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  model_lock lock;
  for (const auto& m : j["models"]) {
    if (!m.is_object()) continue;
    locked_model e;
    e.ref = text_of(m, "ref");
    e.revision = text_of(m, "revision");
    const auto verified = m.find("verified");
    e.verified = verified != m.end() && verified->is_boolean() && verified->get<bool>();
    e.pulled_at = text_of(m, "pulled_at");
    if (const auto files = m.find("files"); files != m.end() && files->is_array()) {
      for (const auto& f : *files) {
        if (!f.is_object()) continue;
        const auto size = f.find("size");
        e.files.push_back({text_of(f, "path"),
                           size != f.end() && size->is_number_unsigned() ? size->get<std::uint64_t>() : 0,
                           text_of(f, "sha256")});
      }
    }
    // An entry that could point outside the cache is ignored, not trusted.
    if (e.ref.empty() || e.revision.empty() || e.revision.find('/') != std::string::npos || e.revision == ".." ||
        e.files.empty() || !std::all_of(e.files.begin(), e.files.end(), [](const hub_file& f) { return valid_file(f.path); }))
      continue;
    lock.models.push_back(std::move(e));
  }
  return lock;
}

std::optional<std::string> write_model_lock(const fs::path& file, const model_lock& lock) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : lock.models) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : m.files) files.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    models.push_back({{"ref", m.ref}, {"revision", m.revision}, {"files", files}, {"verified", m.verified},
                      {"pulled_at", m.pulled_at}});
  }
  const nlohmann::json doc = {
      {"comment", "written by `openclawd pull`: the revision each model reference is pinned to; "
                  "`openclawd pull --update` moves them"},
      {"version", 1},
      {"models", models}};
  const std::string text = doc.dump(2) + "\n";
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write " + tmp.string();
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return "cannot write the lock file " + file.string() + " (disk full?)";
  }
  return std::nullopt;
}

std::optional<fs::path> cached_model_path(const fs::path& cache_dir, const model_lock& lock, std::string_view ref) {
  const locked_model* m = lock.find(ref);
  if (m == nullptr) return std::nullopt;
  std::string repo_id;
  if (auto parsed = parse_model_ref(m->ref)) repo_id = parsed->repo_id();
  else return std::nullopt;
  for (const auto& f : m->files) {
    std::error_code ec;
    const auto size = fs::file_size(cached_file_path(cache_dir, repo_id, m->revision, f.path), ec);
    if (ec || size != f.size) return std::nullopt;
  }
  return cached_file_path(cache_dir, repo_id, m->revision, m->files.front().path);
}

}  // namespace openclawd::core
