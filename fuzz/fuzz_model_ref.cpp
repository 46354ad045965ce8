// libFuzzer target: core/model_ref, the code that turns what a config author and a Hub (or a
// hostile mirror) say into paths under the model cache. The input's first line is a reference;
// the following lines are a repository listing; the whole input is also read as a lock file.
// Checks: a parsed reference prints as text that parses back to the same reference; a selection
// holds only files of the listing, first part first, all with safe paths; a lock file's
// entries all have safe paths and a revision without '/'; cached_model_path stays inside the cache.
#include "core/model_ref.hpp"
#include "fuzz/fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

using namespace openclawd::core;

namespace {

std::filesystem::path input_path(int& fd) {
#if defined(__linux__)
  fd = memfd_create("openclawd-fuzz-model-lock.json", MFD_CLOEXEC);
  if (fd >= 0) return "/proc/self/fd/" + std::to_string(fd);
#endif
  const char* tmp = std::getenv("TMPDIR");
  auto p = std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
           ("openclawd-fuzz-model-lock." + std::to_string(::getpid()) + ".json");
  fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view ref_text = in.substr(0, nl);

  if (auto ref = parse_model_ref(ref_text)) {
    FUZZ_CHECK(is_model_ref(ref->text()));
    auto again = parse_model_ref(ref->text());
    FUZZ_CHECK(again.has_value() && *again == *ref);
    FUZZ_CHECK(ref->file.empty() || is_safe_repo_path(ref->file));

    std::vector<hub_file> tree;
    if (nl != std::string_view::npos) {
      std::string_view rest = in.substr(nl + 1);
      while (!rest.empty() && tree.size() < 256) {
        const auto end = rest.find('\n');
        const std::string path(rest.substr(0, end));
        // What hub_client keeps of a listing: safe paths only.
        if (is_safe_repo_path(path)) tree.push_back({path, path.size(), ""});
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
      }
    }
    auto chosen = select_files(*ref, tree);
    if (chosen) {
      FUZZ_CHECK(!chosen->empty());
      for (const auto& f : *chosen) {
        bool listed = false;
        for (const auto& t : tree) listed = listed || t.path == f.path;
        FUZZ_CHECK(listed);
        FUZZ_CHECK(is_safe_repo_path(f.path));
      }
      const auto split = split_of(chosen->front().path);
      if (split.count > 1) {  // all parts, the first first
        FUZZ_CHECK(split.index == 1);
        FUZZ_CHECK(chosen->size() == static_cast<std::size_t>(split.count));
      } else {
        FUZZ_CHECK(chosen->size() == 1);
      }
    } else {
      FUZZ_CHECK(!chosen.error().empty());
    }
  }

  static int fd = -1;
  static const std::filesystem::path lock_path = input_path(fd);
  if (::ftruncate(fd, 0) != 0) std::abort();
  if (size > 0 && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  auto lock = read_model_lock(lock_path);
  if (lock) {
    const std::filesystem::path cache = "/cache/models";
    for (const auto& m : lock->models) {
      FUZZ_CHECK(!m.files.empty());
      FUZZ_CHECK(m.revision.find('/') == std::string::npos && m.revision != "..");
      for (const auto& f : m.files) FUZZ_CHECK(is_safe_repo_path(f.path));
      if (auto p = cached_model_path(cache, *lock, m.ref)) {
        const auto rel = p->lexically_normal().lexically_relative(cache);
        FUZZ_CHECK(!rel.empty() && *rel.begin() != "..");
      }
    }
  } else {
    FUZZ_CHECK(!lock.error().empty());
  }
  return 0;
}
