// `openclawd chat`: talk to the running daemon through its local socket
// (state_dir/chat.sock, see app/chat_server.hpp). Interactive by default, with local commands
// (app/chat_commands.hpp) and, on a terminal, line editing and history (app/line_reader.hpp);
// --message answers once and exits (for scripts and tests). Blocking I/O: one user, one terminal.
// Answers are Markdown: they are printed rendered for the terminal (gateway/markdown.hpp), block
// by block as each block completes, so tables and lists appear aligned rather than as pipes.
#include "app/chat_commands.hpp"
#include "app/command.hpp"
#include "app/instance.hpp"
#include "app/line_reader.hpp"
#include "gateway/markdown.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace openclawd::app {
namespace {

constexpr std::string_view chat_usage = R"(usage: openclawd chat [--config FILE] [--chat NAME] [--message TEXT | --reset]

Talks to the running daemon: each line you type is answered by the orchestrator and the
subagent, streamed as it is written. Lines that start with / are commands, answered here:
/help lists them, /chat NAME switches to another chat, /reset clears the conversation,
/quit (or Ctrl-D) leaves. The conversation is kept by the daemon (state_dir/conversations.db);
on a terminal, what you type is kept for the up arrow in state_dir/chat_history.

  --message TEXT   send one message, print the answer, exit (0 answered, 1 not)
  --reset          clear the conversation and exit
  --chat NAME      which conversation (default "default"; stored as local:NAME); 1 to 64
                   letters, digits, '.', '_' or '-'

Answers are shown rendered: lists with bullets, tables aligned when they fit the terminal's
width (else one block per row), links followed by their URL. On a terminal, bold and italic are
shown as such unless NO_COLOR is set; piped, the output is plain text.
)";

// How answers are drawn: the width tables must fit (the terminal's, else $COLUMNS, else 80) and
// whether SGR escapes may be used (stdout is a terminal and NO_COLOR is unset or empty,
// https://no-color.org).
struct terminal_style {
  std::size_t width = 80;
  bool ansi = false;

  static terminal_style detect() {
    terminal_style t;
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    winsize ws{};
    if (tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      t.width = ws.ws_col;
    } else if (const char* columns = std::getenv("COLUMNS")) {
      const long n = std::strtol(columns, nullptr, 10);
      if (n >= 10 && n <= 10000) t.width = static_cast<std::size_t>(n);
    }
    const char* no_color = std::getenv("NO_COLOR");
    t.ansi = tty && (no_color == nullptr || *no_color == '\0');
    return t;
  }
};

// The answer's Markdown as it streams: each block is printed rendered once it is complete (a
// blank line outside a code fence); the rest when the answer ends. Blocks printed one by one are
// separated by a blank line, as the whole answer rendered at once would be.
class answer_printer {
 public:
  answer_printer(terminal_style style, bool stream) : style_(style), stream_(stream) {}

  void add(std::string_view delta) {
    pending_ += delta;
    if (!stream_) return;
    const std::size_t n = gateway::complete_blocks_length(pending_);
    if (n == 0) return;
    print(std::string_view(pending_).substr(0, n));
    pending_.erase(0, n);
  }
  // The model starts the answer again: what was printed stays, the unprinted rest is dropped.
  void restart() {
    pending_.clear();
    printed_ = false;
  }
  void finish() {
    print(pending_);
    pending_.clear();
  }

 private:
  void print(std::string_view markdown) {
    const std::string text = gateway::markdown_to_terminal(markdown, style_.width, style_.ansi);
    if (text.empty()) return;
    std::cout << (printed_ ? "\n\n" : "") << text << std::flush;
    printed_ = true;
  }

  terminal_style style_;
  bool stream_;
  std::string pending_;
  bool printed_ = false;
};

struct connection {
  int fd = -1;
  std::string buffered;
  ~connection() {
    if (fd >= 0) ::close(fd);
  }
  bool send_line(const nlohmann::json& j) {
    // Bytes that are not UTF-8 (a pipe from a Latin-1 file) become U+FFFD instead of an
    // exception that would end the command.
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size());
  }
  // The next JSON line from the daemon, or a discarded value when it hung up.
  nlohmann::json read_line() {
    for (;;) {
      if (const auto nl = buffered.find('\n'); nl != std::string::npos) {
        auto j = nlohmann::json::parse(buffered.substr(0, nl), nullptr, false);
        buffered.erase(0, nl + 1);
        return j;
      }
      char buf[4096];
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return nlohmann::json::value_t::discarded;
      buffered.append(buf, static_cast<std::size_t>(n));
    }
  }
};

// Sends one request and prints the answer, rendered: block by block as it streams when
// interactive, all at once at the end for --message. Returns true when answered.
bool exchange(connection& c, const nlohmann::json& request, bool interactive) {
  answer_printer answer(terminal_style::detect(), interactive);
  if (!c.send_line(request)) {
    print_error("the daemon closed the connection");
    return false;
  }
  for (;;) {
    const auto j = c.read_line();
    if (j.is_discarded()) {
      print_error("the daemon closed the connection before answering (your message is saved)");
      return false;
    }
    if (j.contains("delta")) {
      answer.add(j["delta"].get<std::string>());
    } else if (j.value("thinking", false)) {
      // The model reasons before it answers; what it thinks is not shown (nor stored).
      if (interactive) std::cout << "(thinking…) " << std::flush;
    } else if (j.value("restart", false)) {
      answer.restart();
      if (interactive) std::cout << "\n[the answer is being written again]\n" << std::flush;
    } else if (j.value("done", false)) {
      answer.finish();
      const bool ok = j.value("ok", false);
      if (!ok || request.contains("reset")) std::cout << j.value("text", "") ;
      std::cout << "\n" << std::flush;
      return ok;
    }
  }
}

int cmd_chat(const command_args& a) {
  auto cfg = load_config_for(a, /*check_files=*/false);
  if (!cfg) return exit_usage;
  const auto socket_path = state_paths::of(cfg->state_dir).dir / "chat.sock";
  connection c;
  c.fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.string().size() >= sizeof addr.sun_path) {
    print_error("the socket path is too long: " + socket_path.string());
    return exit_runtime_failure;
  }
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    print_error("cannot reach the daemon at " + socket_path.string() + " (" + std::strerror(errno) +
                "); is it running? (openclawd start)");
    return exit_not_running;
  }
  const std::string name = a.value("chat").value_or("default");
  if (const auto why = chat_name_problem(name); !why.empty()) {
    print_error("--chat " + why);
    return exit_usage;
  }
  std::string chat = "local:" + name;
  if (a.flag("reset")) return exchange(c, {{"chat", chat}, {"reset", true}}, false) ? exit_ok : exit_runtime_failure;
  if (auto m = a.value("message"))
    return exchange(c, {{"chat", chat}, {"message", *m}}, false) ? exit_ok : exit_runtime_failure;

  line_reader reader(state_paths::of(cfg->state_dir).dir / "chat_history");
  std::cout << "Chat " << chat << " with openclawd: /help for commands, /quit or Ctrl-D to leave.\n";
  bool history_warned = false;
  for (;;) {
    // The prompt names any chat but the default one, so that no message lands in the wrong one.
    const auto line = reader.read(chat == "local:default" ? "> " : chat.substr(6) + "> ");
    if (!line) break;
    if (line->find_first_not_of(" \t\r") == std::string::npos) continue;
    if (auto why = reader.remember(*line); !why.empty() && !history_warned) {
      print_error("the history is not kept: " + why);
      history_warned = true;
    }
    const auto what = parse_chat_line(*line);
    switch (what.kind) {
      case chat_line_kind::message:
        exchange(c, {{"chat", chat}, {"message", what.text}}, true);
        break;
      case chat_line_kind::help:
        std::cout << chat_help_text << std::flush;
        break;
      case chat_line_kind::quit:
        return exit_ok;
      case chat_line_kind::reset:
        exchange(c, {{"chat", chat}, {"reset", true}}, true);
        break;
      case chat_line_kind::switch_chat:
        chat = "local:" + what.text;
        std::cout << "Now in " << chat << ".\n" << std::flush;
        break;
      case chat_line_kind::show_chat:
        std::cout << "This is " << chat << "; /chat NAME switches to another.\n" << std::flush;
        break;
      case chat_line_kind::hint:
        std::cout << what.text << "\n" << std::flush;
        break;
    }
  }
  std::cout << "\n";
  return exit_ok;
}

}  // namespace

const command_spec chat_command{"chat", "talk to the agent through the running daemon", chat_usage, {"reset"},
                                {"config", "chat", "message"}, 0, cmd_chat};

}  // namespace openclawd::app
