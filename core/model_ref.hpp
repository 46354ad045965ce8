// Models by name: a `model:` or `fallbacks:` value such as `hf:owner/repo:Q4_K_M` or
// `hf:owner/repo/file.gguf`, the rules that pick a repository's files for it (quant tags,
// split GGUFs), and the lock file that pins each reference to one revision of its repository
// and lists the files it pulled. Pure values and plain file reads/writes: the network side is
// app/hub_client.hpp. Usable from any thread (no shared state).
#pragma once

#include <boost/system/result.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::core {

struct model_ref {
  std::string owner;  // "bartowski"
  std::string repo;   // "gemma-3-27b-it-GGUF"
  std::string quant;  // "Q4_K_M", upper case; empty when `file` names the file
  std::string file;   // "sub/x-Q4_K_M.gguf"; empty for a quant reference

  std::string repo_id() const { return owner + "/" + repo; }
  // The canonical text: "hf:owner/repo:Q4_K_M" or "hf:owner/repo/file.gguf". A reference
  // without a quant or a file (hf:owner/repo) means llama.cpp's default: Q4_K_M, else Q8_0.
  std::string text() const;
  bool operator==(const model_ref&) const = default;
};

// True for text that is meant as a reference ("hf:..."), valid or not.
bool is_model_ref(std::string_view text);

// A file path inside a repository that is safe to use under the cache: relative, no "." or
// ".." segment, no empty segment, no control characters or backslashes. A listing from a
// mirror is not trusted to keep to that.
bool is_safe_repo_path(std::string_view path);

// Parses "hf:owner/repo[:QUANT]" or "hf:owner/repo/path/file.gguf". The names follow the
// Hub's rules (letters, digits, '_', and '-', '.' not at either end); a quant is letters,
// digits and '_'. On failure returns nullopt with the reason in *why.
std::optional<model_ref> parse_model_ref(std::string_view text, std::string* why = nullptr);

// A file of a repository as the Hub's tree listing gives it.
struct hub_file {
  std::string path;       // relative to the repository root: "Q4_K_M/x-Q4_K_M-00001-of-00002.gguf"
  std::uint64_t size = 0;
  std::string sha256;     // lower-case hex of the LFS object (lfs.oid); empty for a non-LFS file
  bool operator==(const hub_file&) const = default;
};

// "x-Q4_K_M-00002-of-00003.gguf" → {prefix "x-Q4_K_M", index 2, count 3}; a file that is not
// split has index 1, count 1.
struct gguf_split {
  std::string prefix;  // the path without ".gguf" and the split suffix
  int index = 1;
  int count = 1;
};
gguf_split split_of(std::string_view path);

// The quant tag of a GGUF file name ("x-Q4_K_M.gguf" → "Q4_K_M"), upper case; empty if none.
std::string quant_of(std::string_view path);

// The GGUF model files in `tree` (projectors, imatrix and draft models left out), by quant tag,
// sorted: what a "no such quant" error lists.
std::vector<std::string> available_quants(const std::vector<hub_file>& tree);

// The files that make up `ref` in a repository listing, the first (the one llama-server is
// given) first; all parts of a split model. The error is one sentence for the user and, for a
// quant that does not exist, lists the quants that do.
boost::system::result<std::vector<hub_file>, std::string> select_files(const model_ref& ref,
                                                                        const std::vector<hub_file>& tree);

// The lock file: which revision and files each reference resolved to when it was pulled.
// `openclawd pull` writes it; start, reload and doctor read it; only `pull --update` moves a
// reference to a newer revision.
struct locked_model {
  std::string ref;       // canonical text (model_ref::text())
  std::string revision;  // the commit (40 hex digits)
  std::vector<hub_file> files;  // first part first
  bool verified = false;        // every file's SHA-256 matched what the Hub published
  std::string pulled_at;        // ISO 8601 UTC
  bool operator==(const locked_model&) const = default;
};

struct model_lock {
  std::vector<locked_model> models;
  const locked_model* find(std::string_view ref) const;
  void put(locked_model m);  // replaces the entry of the same ref
};

// The model cache and its lock file. The cache holds <owner>--<repo>/<revision>/<path>; the
// lock file sits beside it: <cache_dir>.lock ("…/openclawd/models.lock").
std::filesystem::path default_model_cache_dir();  // $XDG_DATA_HOME/openclawd/models, else ~/.local/share/...
std::filesystem::path lock_file_of(const std::filesystem::path& cache_dir);
std::filesystem::path cached_file_path(const std::filesystem::path& cache_dir, const std::string& repo_id,
                                       const std::string& revision, const std::string& file);

// A missing file is an empty lock; an unreadable or malformed one is an error (one sentence).
boost::system::result<model_lock, std::string> read_model_lock(const std::filesystem::path& file);
// Written to a temporary file, fsynced and renamed over the old one.
std::optional<std::string> write_model_lock(const std::filesystem::path& file, const model_lock& lock);

// The path llama-server is given for `ref`: its locked revision's first file, when every
// file of it is in the cache at its full size. nullopt otherwise (not pulled, or incomplete).
std::optional<std::filesystem::path> cached_model_path(const std::filesystem::path& cache_dir, const model_lock& lock,
                                                       std::string_view ref);

}  // namespace openclawd::core
