// The whole daemon: `openclawd chat` → local socket → pipeline → both real llama-server
// nodes → answer, and the story's broken-export failure handled through the real
// supervisor. Search is off: nothing leaves the machine.
#include "tests/support/harness.hpp"
#include "tests/support/local_http_server.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <functional>
#include <string_view>

#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <util.h>
#else
#include <pty.h>
#endif

using namespace openclawd::test;

namespace {

void hello_nodes(daemon_setup& d) {
  d.orchestrator_model = make_model(d.dir / "orchestrator-hello.gguf", "hello").string();
  d.subagent_model = make_model(d.dir / "subagent-hello.gguf", "hello").string();
  d.top_extra = "search:\n  enabled: false\n";
}

// The user turns stored for a chat, oldest first, read from the daemon's database (a second
// connection is fine in WAL mode).
std::vector<std::string> user_turns(const std::filesystem::path& db, const std::string& chat) {
  sqlite3* h = nullptr;
  std::vector<std::string> out;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT content FROM turns WHERE chat_id = ?1 AND role = 'user' ORDER BY seq", -1, &s,
                           nullptr) == SQLITE_OK) {
      sqlite3_bind_text(s, 1, chat.c_str(), -1, SQLITE_TRANSIENT);
      while (sqlite3_step(s) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return out;
}

std::size_t occurrences(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// `openclawd ARGS...` on a pseudo-terminal, as a person at a terminal runs it: keys are typed
// into it, and what the terminal would show is collected. Killed and reaped when destroyed.
class terminal_run {
 public:
  terminal_run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    std::vector<std::string> argv_s{openclawd_bin().string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 100;
    pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::unsetenv("EDITRC");
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~terminal_run() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) ::close(master_);
  }
  terminal_run(const terminal_run&) = delete;
  terminal_run& operator=(const terminal_run&) = delete;

  void type(std::string_view keys) {
    while (!keys.empty()) {
      const auto n = ::write(master_, keys.data(), keys.size());
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n > 0);
      keys.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Reads the screen's output until `pred` holds for all of it, or the deadline passes.
  bool wait_for(const std::function<bool(const std::string&)>& pred,
                std::chrono::steady_clock::duration deadline = deadline_long) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!pred(shown_)) {
      if (std::chrono::steady_clock::now() >= end || !pull(100)) return pred(shown_);
    }
    return true;
  }
  // Waits for the program to leave; its exit code (-1 past the deadline).
  int wait_exit(std::chrono::steady_clock::duration deadline = deadline_short) {
    int status = 0;
    const bool done = wait_until(
        [&] {
          pull(0);  // a program writing its last words into a full terminal must not block
          return ::waitpid(pid_, &status, WNOHANG) == pid_;
        },
        deadline);
    if (!done) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  const std::string& shown() const { return shown_; }
  pid_t pid() const { return pid_; }
  // The terminal's modes as the program set them (a pty's master reads its slave's).
  termios modes() const {
    termios t{};
    REQUIRE(::tcgetattr(master_, &t) == 0);
    return t;
  }

 private:
  // One read of what is there within `ms`; false when the terminal is closed (the program left).
  bool pull(int ms) {
    pollfd p{master_, POLLIN, 0};
    const int r = ::poll(&p, 1, ms);
    if (r <= 0) return r == 0 || errno == EINTR;
    char buf[4096];
    const auto n = ::read(master_, buf, sizeof buf);
    if (n > 0) shown_.append(buf, static_cast<std::size_t>(n));
    return n > 0 || (n < 0 && errno == EINTR);  // Linux says EIO once the last writer is gone
  }

  pid_t pid_ = -1;
  int master_ = -1;
  std::string shown_;
};

// True when `text` shows a prompt after the `n`-th occurrence of `marker`.
bool prompt_after(const std::string& text, std::string_view marker, std::size_t n, std::string_view prompt = "> ") {
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    at = text.find(marker, i == 0 ? 0 : at + marker.size());
    if (at == std::string::npos) return false;
  }
  return text.find(prompt, at + marker.size()) != std::string::npos;
}

}  // namespace

TEST_CASE("chat: a message through the daemon is answered, kept, and /reset clears it", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi there"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, world!\n");
  CHECK(std::filesystem::exists(d.state_dir() / "conversations.db"));
  const auto second = run_openclawd({"chat", "--config", d.config.string(), "--chat", "other", "--message", "Hey"});
  CHECK(second.out == "Hello, world!\n");
  const auto reset = run_openclawd({"chat", "--config", d.config.string(), "--reset"});
  CHECK(reset.exit_code == 0);
  CHECK_THAT(reset.out, Catch::Contains("conversation cleared"));
  // What each node's chat template accepts was asked at ready (the tiny models' ChatML).
  const auto j = d.status();
  CHECK(j["nodes"]["orchestrator"]["template"]["summary"] == "system role, lenient roles");
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("subagent: template: system role, lenient roles"));
}

TEST_CASE("chat: a link in the message is read and the answer ends with its source, URL shown", "[chat][e2e][pages]") {
  // Plain http on 127.0.0.1: allowed here by pages.allow_http and the test-only loopback allowance.
  local_http_server site(always(canned_response{
      200,
      {{"Content-Type", "text/html; charset=utf-8"}},
      "<html><head><title>Sleeper trains</title></head><body><article><p>Night trains between capitals are "
      "back, with new routes and carriages, and fares that compete with flying on long routes.</p><p>Demand has "
      "grown every year since, operators say, and the busiest lines run full on weekends.</p></article></body>"
      "</html>",
      false, false}));
  daemon_setup d;
  hello_nodes(d);
  d.subagent_ctx = 2048;  // room for the page's text beside the prompts
  d.top_extra += "pipeline:\n  answer_max_tokens: 256\npages:\n  allow_http: true\n";
  d.write_config();
  REQUIRE(d.start({{"OPENCLAWD_TEST_PAGES_LOOPBACK", "1"}}).exit_code == 0);
  const std::string url = site.url("/sleeper");
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "What does " + url + " say?"},
                               deadline_long, {});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // Not a terminal: plain text, the source's URL written out after its title.
  CHECK(r.out == "Hello, world!\n\nSources:\n[1] Sleeper trains (" + url + ")\n");
  CHECK(site.request_count() == 1);
}

TEST_CASE("chat: an <unused50> subagent is switched to its fallback export and the message is answered",
          "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  const auto good = d.subagent_model;
  d.subagent_model = make_model(d.dir / "concierge-broken.gguf", "unused50").string();
  d.subagent_extra = "    fallbacks: [" + good + "]\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hello?"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // The broken export's output never reached the screen: held back until the guard caught it.
  CHECK(r.out == "Hello, world!\n");
  const auto j = d.status();
  const auto& sub = j["nodes"]["subagent"];
  CHECK(sub["state"] == "ready");
  CHECK(sub["model"] == good);
  CHECK(sub["model_index"] == 1);
  CHECK_THAT(sub["switched"]["reason"].get<std::string>(), Catch::Contains("<unused50>"));
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("subagent: switched from " + d.subagent_model));
}

TEST_CASE("chat: nodes started with --api-key get it on every request", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.orchestrator_extra = "    extra_args: [--api-key, orchestrator-secret]\n";
  d.subagent_extra = "    extra_args: [--api-key, subagent-secret]\n";  // llama-server rejects --flag=value
  d.write_config();
  const auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Hello, world!\n");
  // ... and never in a log line.
  std::ifstream log(d.state_dir() / "logs" / "daemon.log");
  const std::string text{std::istreambuf_iterator<char>(log), {}};
  CHECK(text.find("subagent-secret") == std::string::npos);
}

TEST_CASE("chat: without a running daemon it says so (exit 3)", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("is it running?"));
}

TEST_CASE("chat: Gemma 3 and Qwen3 models (real tokenizers and templates) through the daemon", "[chat][e2e][families]") {
  for (const std::string family : {"gemma3", "qwen3"}) {
    DYNAMIC_SECTION(family) {
      daemon_setup d;
      d.orchestrator_model = real_vocab_model(family, "hello").string();
      d.subagent_model = real_vocab_model(family, family == "qwen3" ? "think" : "hello").string();
      d.orchestrator_ctx = d.subagent_ctx = 2048;
      d.top_extra = "search:\n  enabled: false\npipeline:\n  decision_max_tokens: 24\n";
      d.write_config();
      const auto started = d.start();
      INFO(started.out << started.err);
      REQUIRE(started.exit_code == 0);
      for (int i = 0; i < 3; ++i) {
        const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi there"});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.out == "Hello, world!\n");  // no thoughts, nothing else
      }
      const auto text = run_openclawd({"status", "--config", d.config.string()});
      CHECK_THAT(text.out, Catch::Contains(family == "gemma3" ? "subagent: template: system role, strict alternation"
                                                              : "subagent: template: system role, lenient roles, thinking"));
    }
  }
}

TEST_CASE("chat: a model whose chat template refuses a plain exchange fails the start, naming node and model",
          "[chat][e2e]") {
  // llama-server starts with it (its load-time check renders one message); every conversation
  // would then fail. The daemon learns it when the node is ready and refuses to go on.
  daemon_setup d;
  hello_nodes(d);
  const auto template_file = d.dir / "one-turn-only.jinja";
  std::ofstream(template_file)
      << "{% if messages|length > 2 %}{{ raise_exception('this export takes one message only') }}{% endif %}"
         "{% for m in messages %}{{ '<turn>' + m['role'] + '\\n' + m['content'] + '</turn>\\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<turn>model\\n' }}{% endif %}";
  d.subagent_extra = "    extra_args: [--chat-template-file, " + template_file.string() + "]\n";
  d.write_config();
  const auto started = d.start();
  INFO(started.out << started.err);
  CHECK(started.exit_code == 1);
  const auto said = started.out + started.err;
  CHECK_THAT(said, Catch::Contains("subagent"));
  CHECK_THAT(said, Catch::Contains("subagent-hello.gguf"));
  CHECK_THAT(said, Catch::Contains("refuses a plain user/assistant/user exchange"));
  CHECK_THAT(said, Catch::Contains("this export takes one message only"));
  // Nothing is left running.
  for (const auto pid : d.recorded_pids()) CHECK_FALSE(process_alive(pid));
}

TEST_CASE("chat: the interactive chat (stdin a pipe) explains itself and answers its commands locally",
          "[chat][e2e][interactive]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto db = d.state_dir() / "conversations.db";
  const auto r = run_openclawd_input({"chat", "--config", d.config.string()},
                                     "/help\n"
                                     "Hi there\n"
                                     "   \n"
                                     "/chat work\n"
                                     "Hello from work\n"
                                     "/chat not a name\n"
                                     "/chat bad!name\n"
                                     "/chat\n"
                                     "/frobnicate now\n"
                                     "/\n"
                                     "/ spaced\n"
                                     "//etc/hosts is a file\n"
                                     "/reset everything\n"
                                     "/QUIT\n"
                                     "never sent\n");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  // One line first: which chat, how to get help, how to leave.
  CHECK(r.out.rfind("Chat local:default with openclawd: /help for commands, /quit or Ctrl-D to leave.\n", 0) == 0);
  // /help is answered here; the model saw only the three messages.
  CHECK_THAT(r.out, Catch::Contains("/chat NAME   switch to the local chat NAME"));
  CHECK(occurrences(r.out, "Hello, world!") == 3);
  CHECK(user_turns(db, "local:default") == std::vector<std::string>{"Hi there"});
  // After /chat work the messages land there, "//" sending a line that starts with "/".
  CHECK_THAT(r.out, Catch::Contains("Now in local:work."));
  CHECK_THAT(r.out, Catch::Contains("work> "));
  CHECK(user_turns(db, "local:work") == std::vector<std::string>{"Hello from work", "/etc/hosts is a file"});
  CHECK(occurrences(r.out, "/chat NAME: not a chat name: use 1 to 64 letters (a-z, A-Z), digits, '.', '_' or '-'") == 2);
  CHECK_THAT(r.out, Catch::Contains("This is local:work; /chat NAME switches to another."));
  CHECK_THAT(r.out, Catch::Contains("unknown command /frobnicate: /help lists the commands"));
  CHECK(occurrences(r.out, "a line that starts with / is a command: /help lists them") == 2);
  CHECK_THAT(r.out, Catch::Contains("/reset takes no argument"));
  // Nothing here keeps a history: there is no terminal.
  CHECK_FALSE(std::filesystem::exists(d.state_dir() / "chat_history"));

  // /reset clears the chat it is in, and only that one.
  const auto reset = run_openclawd_input({"chat", "--config", d.config.string()}, "/chat work\n/reset\n");
  INFO(reset.out << reset.err);
  CHECK(reset.exit_code == 0);
  CHECK_THAT(reset.out, Catch::Contains("conversation cleared"));
  CHECK(user_turns(db, "local:work").empty());
  CHECK(user_turns(db, "local:default") == std::vector<std::string>{"Hi there"});
}

TEST_CASE("chat: --chat takes only a valid name (exit 2)", "[chat][e2e]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--chat", "two words", "--message", "Hi"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("--chat not a chat name: use 1 to 64 letters"));
  CHECK(user_turns(d.state_dir() / "conversations.db", "local:two words").empty());
}

TEST_CASE("chat: a Ctrl-D typed ahead still leaves, and the terminal's end-of-file key is given back",
          "[chat][e2e][interactive]") {
  // Typed while the terminal is in line mode (before libedit reads), a Ctrl-D used to become an
  // end-of-file mark that libedit read as a NUL, "insert the next key literally": lost. The
  // chat disables the end-of-file key while it runs and puts the user's back when it leaves.
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const std::map<std::string, std::string> env{{"HOME", d.dir.path().string()}, {"TERM", "xterm"}};
  const cc_t original_eof = '\x04';  // forkpty's default terminal: Ctrl-D
  {
    terminal_run t({"chat", "--config", d.config.string()}, env);
    // As early as the key is off: often before libedit has read at all.
    REQUIRE(wait_until([&] { return t.modes().c_cc[VEOF] == _POSIX_VDISABLE; }, deadline_long));
    t.type("\x04");
    INFO(t.shown());
    CHECK(t.wait_exit(deadline_long) == 0);
    CHECK(t.modes().c_cc[VEOF] == original_eof);
  }
  {
    // A signal that ends the chat gives the key back too.
    terminal_run t({"chat", "--config", d.config.string()}, env);
    REQUIRE(t.wait_for([](const std::string& s) { return s.ends_with("> "); }));
    REQUIRE(t.modes().c_cc[VEOF] == _POSIX_VDISABLE);
    REQUIRE(::kill(t.pid(), SIGTERM) == 0);
    CHECK(t.wait_exit(deadline_long) == 128 + SIGTERM);
    CHECK(t.modes().c_cc[VEOF] == original_eof);
  }
}

TEST_CASE("chat: on a terminal, lines can be edited and recalled, and the history is kept private (0600)",
          "[chat][e2e][interactive]") {
  daemon_setup d;
  hello_nodes(d);
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto db = d.state_dir() / "conversations.db";
  const auto history = d.state_dir() / "chat_history";
  // No ~/.editrc of the person running the tests; a terminal type every system knows.
  const std::map<std::string, std::string> env{{"HOME", d.dir.path().string()}, {"TERM", "xterm"}};
  const std::string banner = "/quit or Ctrl-D to leave.";
  {
    terminal_run t({"chat", "--config", d.config.string()}, env);
    REQUIRE(t.wait_for([&](const std::string& s) { return prompt_after(s, banner, 1); }));
    // "ello", Ctrl-A (to the start of the line), "H": the line sent is "Hello".
    t.type("ello\x01H\r");
    REQUIRE(t.wait_for([](const std::string& s) { return prompt_after(s, "Hello, world!", 1); }));
    // Ctrl-P recalls it.
    t.type("\x10\r");
    REQUIRE(t.wait_for([](const std::string& s) { return prompt_after(s, "Hello, world!", 2); }));
    // Tab completes a command.
    t.type("/he\t\r");
    // Waited for until the prompt is the last thing shown. A Ctrl-D that comes before libedit
    // has switched the terminal to its own mode must leave too: the chat disables the terminal's
    // end-of-file key (before, it was lost 1 run in ~70 on a loaded machine; test above).
    REQUIRE(t.wait_for([](const std::string& s) {
      return prompt_after(s, "switch to the local chat NAME", 1) && s.ends_with("> ");
    }));
    t.type("\x04");  // Ctrl-D leaves
    const int code = t.wait_exit();
    INFO(t.shown());
    CHECK(code == 0);
    CHECK(user_turns(db, "local:default") == std::vector<std::string>{"Hello", "Hello"});
  }
  REQUIRE(std::filesystem::exists(history));
  struct stat st {};
  REQUIRE(::stat(history.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  {
    // A new session has the old one's lines: two steps back is "Hello" (then "/help ").
    terminal_run t({"chat", "--config", d.config.string()}, env);
    REQUIRE(t.wait_for([&](const std::string& s) { return prompt_after(s, banner, 1); }));
    t.type("\x10\x10\r");
    REQUIRE(t.wait_for([](const std::string& s) { return prompt_after(s, "Hello, world!", 1); }));
    t.type("/quit\r");
    CHECK(t.wait_exit() == 0);
    INFO(t.shown());
    CHECK(user_turns(db, "local:default") == std::vector<std::string>{"Hello", "Hello", "Hello"});
  }
}
