// `openclawd logs [orchestrator|subagent|daemon|all] [-f] [-n N]`: the last lines of the logs in
// <state_dir>/logs, reaching back into rotated files (node.log.1, .2, ...) when the current one
// is short, and with -f following them across rotation and truncation (tail -F), until
// SIGINT/SIGTERM. Polls the files (no inotify/kqueue): a person reads this, 100 ms is plenty.
#include "app/command.hpp"
#include "app/instance.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace openclawd::app {
namespace {
namespace fs = std::filesystem;

constexpr std::string_view logs_usage = R"(usage: openclawd logs [orchestrator|subagent|daemon|all] [-f] [-n N] [--config FILE]

Prints the last N lines of a log in <state_dir>/logs: a node's llama-server output
(orchestrator.log, subagent.log, with a "---- ... openclawd:" line at each start and exit),
or the daemon's own log (daemon.log: starts, readiness, exits, restarts and why; the
default, and the place to look first). When the current file holds fewer than N lines the
rest comes from the rotated ones (.1, .2, ...). `all` prints the three logs one after the
other, and with -f interleaves new lines as they arrive, each prefixed with its name.

  -n, --lines N    lines to print (default 50; 0 with -f: only new lines)
  -f, --follow     keep printing new lines, across rotation and truncation, until Ctrl-C
                   (SIGINT) or SIGTERM (exit 0)
  --config FILE    the YAML whose state_dir holds the logs
Under `start --foreground` without a service manager the daemon logs to stderr, not to
daemon.log. Exit code: 0, 1 when no log exists yet (without -f), 2 usage or config error.
)";

volatile std::sig_atomic_t stop_requested = 0;
extern "C" void on_stop_signal(int) { stop_requested = 1; }

// The last `n` lines in [0, end) of `fd`, oldest first; a final line without "\n" counts.
std::vector<std::string> last_lines(int fd, off_t end, std::size_t n) {
  std::vector<std::string> lines;
  if (n == 0 || end <= 0) return lines;
  constexpr off_t block = 64 * 1024;
  std::string tail;  // bytes from `pos` to `end`
  off_t pos = end;
  // Read backwards until the tail holds n newlines before its last line (or the file starts).
  auto newlines = [&] {
    std::size_t count = 0;
    // A trailing "\n" ends the last line rather than starting an empty one.
    const std::size_t upto = !tail.empty() && tail.back() == '\n' ? tail.size() - 1 : tail.size();
    for (std::size_t i = 0; i < upto; ++i) count += tail[i] == '\n';
    return count;
  };
  while (pos > 0 && newlines() < n) {
    const off_t len = std::min(block, pos);
    pos -= len;
    std::string buf(static_cast<std::size_t>(len), '\0');
    off_t got = 0;
    while (got < len) {
      const auto r = ::pread(fd, buf.data() + got, static_cast<std::size_t>(len - got), pos + got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += r;
    }
    buf.resize(static_cast<std::size_t>(got));
    tail.insert(0, buf);
  }
  std::size_t start = 0;
  while (start < tail.size()) {
    const auto nl = tail.find('\n', start);
    lines.push_back(tail.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  // The first piece may be a partial line cut by the block boundary: it is dropped unless
  // the whole file was read.
  if (pos > 0 && !lines.empty()) lines.erase(lines.begin());
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

std::vector<std::string> last_lines_of(const fs::path& p, std::size_t n) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  struct stat st {};
  std::vector<std::string> lines;
  if (::fstat(fd, &st) == 0) lines = last_lines(fd, st.st_size, n);
  ::close(fd);
  return lines;
}

bool write_out(std::string_view s) {
  return std::fwrite(s.data(), 1, s.size(), stdout) == s.size();
}

// One followed file. Keeps its descriptor across a rename, so the lines written just before
// a rotation are read from the old file before switching to the new one.
struct follower {
  std::string prefix;  // "[orchestrator] " when several files are followed
  fs::path path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t offset = 0;
  std::string partial;  // bytes after the last "\n"

  ~follower() {
    if (fd >= 0) ::close(fd);
  }

  bool open_at(off_t at) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    ::fstat(fd, &st);
    dev = st.st_dev;
    ino = st.st_ino;
    offset = at < 0 ? st.st_size : at;
    ::lseek(fd, offset, SEEK_SET);
    return true;
  }

  // Prints every complete line read; false when stdout is gone (a closed pipe).
  bool drain() {
    if (fd < 0) return true;
    char buf[16 * 1024];
    for (;;) {
      const auto n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      offset += n;
      partial.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t start = 0, nl;
    while ((nl = partial.find('\n', start)) != std::string::npos) {
      if (!write_out(prefix) || !write_out(std::string_view(partial).substr(start, nl - start + 1))) return false;
      start = nl + 1;
    }
    partial.erase(0, start);
    return true;
  }

  bool flush_partial() {
    if (partial.empty()) return true;
    const bool ok = write_out(prefix) && write_out(partial) && write_out("\n");
    partial.clear();
    return ok;
  }

  // One poll: new bytes, then whether `path` now names another file (rotated: finish the
  // old one, start the new one from its beginning) or a shorter one (truncated).
  bool poll_once() {
    if (!drain()) return false;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return true;  // between rename and re-create, or not yet there
    if (fd < 0) {
      if (!open_at(0)) return true;
      return drain();
    }
    if (st.st_dev != dev || st.st_ino != ino) {
      if (!drain() || !flush_partial()) return false;
      ::close(fd);
      fd = -1;
      if (!open_at(0)) return true;
      return drain();
    }
    if (st.st_size < offset) {
      std::fprintf(stderr, "openclawd: %s was truncated; reading it from the start\n", path.c_str());
      if (!flush_partial()) return false;
      offset = 0;
      ::lseek(fd, 0, SEEK_SET);
      return drain();
    }
    return true;
  }
};

int cmd_logs(const command_args& a) {
  auto cfg = load_config_for(a, /*check_files=*/false);
  if (!cfg) return exit_usage;
  const auto paths = state_paths::of(cfg->state_dir);

  std::vector<std::string> known{"daemon"};
  for (const auto& n : cfg->nodes) known.push_back(n.name);
  const std::string which = a.positional.empty() ? "daemon" : a.positional[0];
  std::vector<std::pair<std::string, fs::path>> sources;
  if (which == "all") {
    for (const auto& name : known) sources.emplace_back(name, paths.logs / (name + ".log"));
  } else if (std::find(known.begin(), known.end(), which) != known.end()) {
    sources.emplace_back(which, paths.logs / (which + ".log"));
  } else {
    std::string list;
    for (const auto& k : known) list += k + ", ";
    print_error("no log named \"" + which + "\"; choose " + list + "or all");
    return exit_usage;
  }

  std::size_t lines = 50;
  if (auto v = a.value("lines")) {
    const bool digits = !v->empty() && v->size() < 10 && std::all_of(v->begin(), v->end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      print_error("-n/--lines needs a number of lines, not \"" + *v + "\"");
      return exit_usage;
    }
    lines = std::stoul(*v);
  }
  const bool follow = a.flag("follow");
  const bool several = sources.size() > 1;

  // Open before reading the tail, so nothing written in between is lost or printed twice.
  std::vector<std::unique_ptr<follower>> followers;
  bool any = false;
  for (const auto& [name, path] : sources) {
    auto f = std::make_unique<follower>();
    f->prefix = several && follow ? "[" + name + "] " : "";
    f->path = path;
    any |= f->open_at(-1);
    followers.push_back(std::move(f));
  }
  if (!any && !follow) {
    print_error("no log yet at " + (several ? paths.logs.string() : sources[0].second.string()) +
                " (has openclawd run with state_dir " + paths.dir.string() + "?)");
    return exit_runtime_failure;
  }

  for (std::size_t i = 0; i < followers.size(); ++i) {
    auto& f = *followers[i];
    if (f.fd < 0) {
      if (several && follow) continue;
      if (follow) std::fprintf(stderr, "openclawd: waiting for %s to appear\n", f.path.c_str());
      continue;
    }
    // Current file first; if it is short, older lines from the rotated files (.1 is newest).
    std::vector<std::string> out = last_lines(f.fd, f.offset, lines);
    for (int k = 1; out.size() < lines && k <= std::max(cfg->logs.keep, 1); ++k) {
      const fs::path older = f.path.string() + "." + std::to_string(k);
      std::error_code ec;
      if (!fs::exists(older, ec)) break;
      auto more = last_lines_of(older, lines - out.size());
      out.insert(out.begin(), more.begin(), more.end());
    }
    if (several && !follow && !out.empty()) {  // with -f, each line carries its [name] instead
      std::string header = (i == 0 ? "" : "\n") + std::string("==> ") + f.path.string() + " <==\n";
      write_out(header);
    }
    for (const auto& line : out)
      if (!write_out(f.prefix) || !write_out(line) || !write_out("\n")) return exit_ok;  // reader went away
  }
  std::fflush(stdout);
  if (!follow) return exit_ok;

  // Not SA_RESTART: the sleep below must return at once on Ctrl-C.
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  while (!stop_requested) {
    for (auto& f : followers)
      if (!f->poll_once()) return exit_ok;
    if (std::fflush(stdout) != 0) return exit_ok;
    ::poll(nullptr, 0, 100);
  }
  for (auto& f : followers) {
    f->drain();
    f->flush_partial();
  }
  std::fflush(stdout);
  return exit_ok;
}

}  // namespace

const command_spec logs_command{"logs", "print (-n N) or follow (-f) the daemon's or a node's log", logs_usage,
                                {"follow"}, {"config", "lines"}, 1, cmd_logs};

}  // namespace openclawd::app
