#include "app/line_reader.hpp"

#include <cerrno>
#include <clocale>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string_view>

#include <csignal>

#include <fcntl.h>
#include <langinfo.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>

namespace openclawd::app {
namespace {

// libedit decodes keystrokes by the locale's character set: under the "C" locale (no LANG, as
// in a bare ssh session or a service's shell) a non-ASCII letter cannot be typed at all. The
// daemon speaks UTF-8, so a "C" locale is taken to mean UTF-8; a locale the user chose is kept.
void prefer_utf8_input() {
  const char* chosen = std::setlocale(LC_CTYPE, "");
  const std::string_view codeset = nl_langinfo(CODESET);
  if (codeset == "UTF-8" || codeset == "utf8") return;
  const std::string_view name = chosen ? chosen : "C";
  if (name != "C" && name != "POSIX") return;
  for (const char* l : {"C.UTF-8", "C.utf8", "UTF-8", "en_US.UTF-8"})
    if (std::setlocale(LC_CTYPE, l)) return;
}

constexpr const char* commands[] = {"/help", "/chat", "/reset", "/quit"};

// Tab completes a command name at the start of the line; nothing else is completed (libedit
// would otherwise offer the current folder's file names, which mean nothing to a chat).
char* complete_command(const char* text, int state) {
  static std::size_t next = 0;
  if (state == 0) next = 0;
  const auto n = std::strlen(text);
  while (next < std::size(commands)) {
    const char* c = commands[next++];
    if (std::strncmp(c, text, n) == 0) return ::strdup(c);
  }
  return nullptr;
}

char* complete_nothing(const char*, int) { return nullptr; }

// Ctrl-D typed ahead (while an answer is being written, before libedit reads again) reaches a
// terminal in line mode, where the kernel makes it an end-of-file mark; when libedit switches
// to its own mode, that mark arrives as a NUL byte, which libedit takes as "insert the next key
// literally": the Ctrl-D was lost and the next key garbled (found by the pty test, 1 run in
// ~70 on a loaded machine). With the terminal's end-of-file character disabled while the chat
// runs, a Ctrl-D typed ahead stays the byte 0x04, and libedit reads it as the Ctrl-D it is.
// The user's setting is put back on the way out, also when a signal ends the chat.
cc_t saved_veof = 0;
volatile std::sig_atomic_t veof_changed = 0;

void restore_veof() noexcept {  // async-signal-safe: tcgetattr and tcsetattr are
  if (veof_changed == 0) return;
  termios t{};
  if (::tcgetattr(STDIN_FILENO, &t) == 0) {
    t.c_cc[VEOF] = saved_veof;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  veof_changed = 0;
}

extern "C" void restore_veof_and_die(int sig) {
  restore_veof();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void disable_veof() {
  termios t{};
  if (::tcgetattr(STDIN_FILENO, &t) != 0) return;
  saved_veof = t.c_cc[VEOF];
  t.c_cc[VEOF] = _POSIX_VDISABLE;
  if (::tcsetattr(STDIN_FILENO, TCSANOW, &t) != 0) return;
  veof_changed = 1;
  // The signals that end a chat by default (libedit's own handlers, while it reads, hand them
  // on to these); a disposition someone chose (ignored, handled) is left alone.
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    struct sigaction sa {};
    sa.sa_handler = restore_veof_and_die;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, nullptr);
  }
}

char** complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;
  if (start != 0 || text[0] != '/') return nullptr;
  return rl_completion_matches(text, complete_command);
}

}  // namespace

line_reader::line_reader(std::filesystem::path history_file) : history_file_(std::move(history_file)) {
  editing_ = ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1;
  if (!editing_) return;
  prefer_utf8_input();
  // Lines of ~/.editrc can be scoped to this program ("openclawd:bind -v").
  static char name[] = "openclawd";
  rl_readline_name = name;
  rl_attempted_completion_function = complete;
  rl_completion_entry_function = complete_nothing;
  using_history();
  stifle_history(max_history_lines);
  read_history(history_file_.c_str());  // fails when there is none yet: an empty history
  disable_veof();
}

line_reader::~line_reader() { restore_veof(); }

std::optional<std::string> line_reader::read(const std::string& prompt) {
  if (!editing_) {
    std::cout << prompt << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
  }
  char* typed = ::readline(prompt.c_str());
  if (typed == nullptr) return std::nullopt;
  std::string line(typed);
  std::free(typed);
  return line;
}

std::string line_reader::remember(const std::string& line) {
  if (!editing_ || line.empty() || line.size() > max_history_line_bytes || line == last_remembered_) return {};
  last_remembered_ = line;
  add_history(line.c_str());
  // Made 0600 before libedit writes it: its fopen("w") keeps the mode of a file that exists
  // and would give a new one the umask's (0644 for most users), readable by anyone.
  const int fd = ::open(history_file_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return history_file_.string() + ": " + std::strerror(errno);
  const bool private_mode = ::fchmod(fd, 0600) == 0;
  const int chmod_errno = errno;
  ::close(fd);
  if (!private_mode) return history_file_.string() + ": " + std::strerror(chmod_errno);
  if (const int e = ::write_history(history_file_.c_str()); e != 0)
    return history_file_.string() + ": " + std::strerror(e);
  return {};
}

}  // namespace openclawd::app
