// libFuzzer target: core::load_config, which reads a file. Each input is written to an
// in-memory file (memfd on Linux, else a file in $TMPDIR) and loaded with check_files off, so
// nothing outside the input is read and a run is fast and repeatable. A result is either a
// config or an error with a position inside the input; neither may crash, hang or leak.
// The free-standing parsers the loader uses (durations, path expansion) get the input too.
#include "core/config.hpp"
#include "fuzz/fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

struct input_file {
  int fd = -1;
  std::filesystem::path path;

  input_file() {
#if defined(__linux__)
    fd = memfd_create("openclawd-fuzz-config.yaml", MFD_CLOEXEC);
    if (fd >= 0) {
      path = "/proc/self/fd/" + std::to_string(fd);
      return;
    }
#endif
    const char* tmp = std::getenv("TMPDIR");
    path = std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
           ("openclawd-fuzz-config." + std::to_string(::getpid()) + ".yaml");
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      std::perror("fuzz_config: cannot create the input file");
      std::abort();
    }
  }

  void write(std::string_view bytes) const {
    if (::ftruncate(fd, 0) != 0) std::abort();
    std::size_t at = 0;
    while (at < bytes.size()) {
      const ssize_t n = ::pwrite(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
      if (n <= 0) std::abort();
      at += static_cast<std::size_t>(n);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const input_file file;  // one per process: libFuzzer runs inputs one at a time
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  file.write(text);

  auto loaded = openclawd::core::load_config(file.path, {.check_files = false});
  if (loaded) {
    const openclawd::core::config& c = *loaded;
    FUZZ_CHECK(c.nodes.size() == 2);
    FUZZ_CHECK(c.nodes[0].name == "orchestrator" && c.nodes[1].name == "subagent");
    for (const auto& n : c.nodes) {
      FUZZ_CHECK(n.ctx > 0);
      FUZZ_CHECK(n.port >= 1 && n.port <= 65535);
      // A model named "hf:…" that is not in the cache yet has no file until `pull` (issue 19):
      // without check_files it loads with an empty path and its reference kept.
      FUZZ_CHECK(n.model.is_absolute() || (n.model.empty() && !n.model_refs.empty() && !n.model_refs[0].empty()));
    }
    FUZZ_CHECK(c.nodes[0].port != c.nodes[1].port);
    FUZZ_CHECK(c.state_dir.is_absolute());
  } else {
    const auto& e = loaded.error();
    FUZZ_CHECK(e.line >= 0 && e.column >= 0);
    FUZZ_CHECK(!e.message.empty());
    (void)e.to_string();
  }

  if (size <= 256) {
    if (auto d = openclawd::core::parse_duration(text)) FUZZ_CHECK(d->count() >= 0);
    std::string missing;
    (void)openclawd::core::expand_path_text(text, &missing);
  }
  return 0;
}
