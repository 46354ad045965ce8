#include "tests/support/harness.hpp"

#include "core/gguf.hpp"
#include "tests/support/ports.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace openclawd::test {

std::filesystem::path openclawd_bin() { return OPENCLAWD_TEST_BIN; }
std::filesystem::path test_child_bin() { return OPENCLAWD_TEST_CHILD; }

std::filesystem::path llama_server_bin() {
  const std::filesystem::path p = OPENCLAWD_TEST_LLAMA_SERVER;
  if (::access(p.c_str(), X_OK) != 0) {
    FAIL("the real llama-server is missing at " << p.string()
                                                << ": run `make test` (or scripts/setup.sh) to install it");
  }
  return p;
}

std::filesystem::path rpc_server_bin() {
  const auto p = std::filesystem::path(OPENCLAWD_TEST_LLAMA_SERVER).parent_path() / "ggml-rpc-server";
  if (::access(p.c_str(), X_OK) != 0) {
    FAIL("llama.cpp's RPC worker is missing at " << p.string()
                                                 << ": run `make test` (or scripts/setup.sh) to install it");
  }
  return p;
}

temp_dir::temp_dir() {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  for (;;) {
    auto candidate = base / ("openclawd-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      break;
    }
  }
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int free_port() {
  std::string why;
  const auto port = claim_loopback_port(&why);
  if (!port) FAIL(why);
  return *port;
}

std::filesystem::path make_model(const std::filesystem::path& path, const std::string& kind, int seed) {
  const auto k = core::parse_tiny_model_kind(kind);
  REQUIRE(k.has_value());
  core::tiny_model_options opts;
  opts.seed = static_cast<std::uint64_t>(seed);
  std::string why;
  const auto r = core::write_tiny_model(path, *k, opts, &why);
  INFO(why);
  REQUIRE(r.has_value());
  return path;
}

std::filesystem::path real_vocab_model(const std::string& family, const std::string& kind) {
  const auto p = std::filesystem::path(OPENCLAWD_TEST_MODELS) / family / (kind + ".gguf");
  if (!std::filesystem::is_regular_file(p)) {
    FAIL("the test model " << p.string()
                           << " is missing: it is built with the tests (target openclawd_test_models) from the "
                              "tokenizers scripts/setup.sh puts into .deps/tokenizers; run scripts/setup.sh, then build");
  }
  return p;
}

std::filesystem::path real_vocab_template(const std::string& family) {
  const auto config = std::filesystem::path(OPENCLAWD_TEST_TOKENIZERS) / family / "tokenizer_config.json";
  std::ifstream in(config);
  if (!in) FAIL("missing " << config.string() << ": run scripts/setup.sh (it fetches the tokenizers)");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string())
    FAIL(config.string() << " has no chat_template");
  auto text = j["chat_template"].get<std::string>();
  if (family == "mistral_nemo") {
    const std::string from = "loop_messages | rejectattr(\"role\", \"equalto\", \"tool\") | rejectattr(\"role\", "
                             "\"equalto\", \"tool_results\") | selectattr(\"tool_calls\", \"undefined\")";
    const auto at = text.find(from);
    if (at == std::string::npos) FAIL("Mistral Nemo's packaged template changed: " << config.string());
    text.replace(at, from.size(), "loop_messages");
  }
  static const auto dir = std::filesystem::temp_directory_path() / ("openclawd-templates-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto out = dir / (family + ".jinja");
  std::ofstream(out) << text;
  return out;
}

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `openclawd ARGS...` with stdin from `in_fd` (closed in the child after the dup; -1: /dev/null).
pid_t spawn_with_stdin(const std::vector<std::string>& args, const std::filesystem::path& out_path,
                       const std::filesystem::path& err_path, const std::map<std::string, std::string>& extra_env,
                       int in_fd, int parent_fd) {
  std::vector<std::string> argv_s{openclawd_bin().string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int in = in_fd >= 0 ? in_fd : ::open("/dev/null", O_RDONLY);
    if (parent_fd >= 0) ::close(parent_fd);  // else the pipe never reports the end of input
    ::dup2(in, 0);
    if (in != 0) ::close(in);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& [k, v] : extra_env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

run_result wait_for_run(pid_t pid, const std::filesystem::path& out_path, const std::filesystem::path& err_path,
                        std::chrono::steady_clock::duration deadline) {
  run_result r;
  int status = 0;
  const bool done = wait_until(
      [&] {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        return w == pid;
      },
      deadline);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    r.exit_code = -1;
  } else {
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

}  // namespace

pid_t spawn_openclawd(const std::vector<std::string>& args, const std::filesystem::path& out_path,
                      const std::filesystem::path& err_path, const std::map<std::string, std::string>& extra_env) {
  return spawn_with_stdin(args, out_path, err_path, extra_env, -1, -1);
}

run_result run_openclawd(const std::vector<std::string>& args, std::chrono::steady_clock::duration deadline,
                         const std::map<std::string, std::string>& extra_env) {
  temp_dir io;
  const auto out_path = io / "stdout";
  const auto err_path = io / "stderr";
  return wait_for_run(spawn_openclawd(args, out_path, err_path, extra_env), out_path, err_path, deadline);
}

run_result run_openclawd_input(const std::vector<std::string>& args, const std::string& input,
                               std::chrono::steady_clock::duration deadline) {
  temp_dir io;
  const auto out_path = io / "stdout";
  const auto err_path = io / "stderr";
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = spawn_with_stdin(args, out_path, err_path, {}, fds[0], fds[1]);
  ::close(fds[0]);
  // All at once: the input is small (a pipe holds 64 KiB), and the chat reads it a line at a time.
  REQUIRE(input.size() < 16384);
  // A program that exits before reading everything must fail its test, not kill the test program.
  const auto old_sigpipe = std::signal(SIGPIPE, SIG_IGN);
  std::size_t written = 0;
  while (written < input.size()) {
    const auto n = ::write(fds[1], input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the program exited early: its output says why
    written += static_cast<std::size_t>(n);
  }
  ::close(fds[1]);
  std::signal(SIGPIPE, old_sigpipe);
  return wait_for_run(pid, out_path, err_path, deadline);
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return ::kill(pid, 0) == 0;  // no /proc (macOS): best effort
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  const char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

bool wait_until(const std::function<bool()>& pred, std::chrono::steady_clock::duration deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(25ms);
  }
}

daemon_setup::daemon_setup() {
  orchestrator_model = make_model(dir / "orchestrator.gguf", "random", 1).string();
  subagent_model = make_model(dir / "subagent.gguf", "random", 2).string();
  config = dir / "openclawd.yaml";
}

daemon_setup::~daemon_setup() {
  const auto pids = recorded_pids();
  run_openclawd({"stop", "--config", config.string()}, deadline_long);
  for (pid_t p : pids)
    if (process_alive(p)) ::kill(-p, SIGKILL);
}

void daemon_setup::write_config() {
  // Defaults unless the test's own lines set them (a key twice is a config error).
  auto timeouts = [](const std::string& extra) {
    std::string t;
    if (extra.find("startup_timeout:") == std::string::npos) t += "    startup_timeout: 60s\n";
    if (extra.find("stop_timeout:") == std::string::npos) t += "    stop_timeout: 5s\n";
    return t;
  };
  std::ofstream out(config);
  out << "llama_server: " << llama_server_bin().string() << "\n"
      << "state_dir: " << state_dir().string() << "\n"
      << "nodes:\n"
      << "  orchestrator:\n"
      << "    model: " << orchestrator_model << "\n"
      << "    ctx: " << orchestrator_ctx << "\n"
      << "    gpu_layers: " << orchestrator_gpu_layers << "\n"
      << "    port: " << orchestrator_port << "\n"
      << "    threads: 1\n"
      << timeouts(orchestrator_extra)
      << orchestrator_extra
      << "  subagent:\n"
      << "    model: " << subagent_model << "\n"
      << "    ctx: " << subagent_ctx << "\n"
      << "    gpu_layers: 99\n"
      << "    port: " << subagent_port << "\n"
      << "    threads: 1\n"
      << timeouts(subagent_extra)
      << subagent_extra
      << "health:\n"
      << "  interval: 200ms\n"
      << "  timeout: 500ms\n"
      << "  failures: 2\n"
      << health_extra
      << "restart:\n"
      << "  backoff_initial: 100ms\n"
      << "  backoff_max: 1s\n"
      << top_extra;
}

run_result daemon_setup::start(const std::map<std::string, std::string>& env) {
  return run_openclawd({"start", "--config", config.string()}, deadline_long, env);
}

run_result daemon_setup::stop() { return run_openclawd({"stop", "--config", config.string()}, deadline_long); }

nlohmann::json daemon_setup::status() {
  const auto r = run_openclawd({"status", "--json", "--config", config.string()}, deadline_short);
  INFO("status stderr: " << r.err);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

std::optional<int> daemon_setup::node_pid(const std::string& node) {
  const auto j = status();
  const auto& p = j["nodes"][node]["pid"];
  if (!p.is_number_integer()) return std::nullopt;
  return p.get<int>();
}

std::optional<int> daemon_setup::worker_pid(const std::string& worker) {
  const auto j = status();
  if (!j.contains("workers") || !j["workers"].contains(worker)) return std::nullopt;
  const auto& p = j["workers"][worker]["pid"];
  if (!p.is_number_integer()) return std::nullopt;
  return p.get<int>();
}

std::string daemon_setup::node_state(const std::string& node) {
  return status()["nodes"][node]["state"].get<std::string>();
}

std::vector<pid_t> daemon_setup::recorded_pids() {
  std::vector<pid_t> pids;
  std::ifstream in(state_dir() / "state.json");
  if (!in) return pids;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return pids;
  for (const auto& [name, n] : j["nodes"].items())
    if (n["pid"].is_number_integer()) pids.push_back(n["pid"].get<int>());
  if (j.contains("workers") && j["workers"].is_array())
    for (const auto& w : j["workers"])
      if (w["pid"].is_number_integer()) pids.push_back(w["pid"].get<int>());
  if (j["daemon"]["pid"].is_number_integer()) pids.push_back(j["daemon"]["pid"].get<int>());
  return pids;
}

}  // namespace openclawd::test
