// Test harness for end-to-end tests: temp dirs, ports, tiny models, running the real
// `openclawd` binary and reading `status --json`, and condition waits with deadlines
// (never fixed sleeps). Paths of the binaries come from CMake as compile definitions.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace openclawd::test {

using namespace std::chrono_literals;

// Generous: CI machines are slow and loaded; a deadline only bounds a failure.
constexpr auto deadline_short = 20s;
constexpr auto deadline_long = 60s;

std::filesystem::path openclawd_bin();
std::filesystem::path llama_server_bin();  // fails the test with a clear message when absent
std::filesystem::path rpc_server_bin();    // .deps/bin/ggml-rpc-server, likewise
std::filesystem::path test_child_bin();

class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

// A loopback port for a server a test starts: claim_loopback_port (tests/support/ports.hpp),
// failing the test when there is none.
int free_port();

// Writes a tiny GGUF model (kind: "random", "unused50").
std::filesystem::path make_model(const std::filesystem::path& path, const std::string& kind = "random", int seed = 1);

// A tiny model with a real family's vocabulary and chat template, written once per build by
// openclawd-make-model (tests/CMakeLists.txt, target openclawd_test_models; docs/testing.md):
// <build>/tests/models/<family>/<kind>.gguf. Fails the test when it is missing. Written:
//   gemma3:       hello, unused50 (<unused50> CONTROL), unused50-text (USER_DEFINED), random,
//                 story, hello-gemma3, story-gemma3 (gemma3 architecture, sliding window 32)
//   qwen3:        hello, think, random, story
//   llama3_1:     hello, random
//   mistral_nemo: hello (its packaged template, which this llama-server cannot parse: run it
//                 with --chat-template-file real_vocab_template("mistral_nemo"))
// Each file's answer (or one period of the story) is its openclawd.tiny.text metadata.
std::filesystem::path real_vocab_model(const std::string& family, const std::string& kind);

// A family's own chat template (tokenizer_config.json of its tokenizer package), as a file for
// llama-server's --chat-template-file, written once per test process. Mistral Nemo's packaged
// revision checks alternation over `selectattr("tool_calls", "undefined")`, which this
// llama-server's Jinja cannot parse (it refuses to start); here that loop runs over all the
// messages, as in the revision llama.cpp ships (models/templates/), the rest as Mistral wrote it.
std::filesystem::path real_vocab_template(const std::string& family);

struct run_result {
  int exit_code = -1;  // -1: killed by the deadline
  std::string out, err;
};
// Starts `openclawd ARGS...` in the background: stdin /dev/null, stdout/stderr to files.
pid_t spawn_openclawd(const std::vector<std::string>& args, const std::filesystem::path& out,
                      const std::filesystem::path& err, const std::map<std::string, std::string>& extra_env = {});

// Runs `openclawd ARGS...`, waits at most `deadline`, captures stdout/stderr.
run_result run_openclawd(const std::vector<std::string>& args,
                         std::chrono::steady_clock::duration deadline = deadline_long,
                         const std::map<std::string, std::string>& extra_env = {});

// The same with `input` written to its stdin through a pipe (closed after it: end of input),
// as a script would feed the interactive `openclawd chat`.
run_result run_openclawd_input(const std::vector<std::string>& args, const std::string& input,
                               std::chrono::steady_clock::duration deadline = deadline_long);

// True while `pid` exists and is not a zombie (an exited child whose parent has not
// reaped it yet is gone for our purposes).
bool process_alive(pid_t pid);

// Polls `pred` every 25 ms until true or `deadline`; returns the last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::steady_clock::duration deadline = deadline_short);

// A config with two real llama-server nodes on fresh ports, tiny models, and short
// health/backoff settings so that faults are seen within a second or two.
struct daemon_setup {
  temp_dir dir;
  int orchestrator_port = free_port();
  int subagent_port = free_port();
  std::filesystem::path config;
  // YAML lines placed under each node (indent 4), and after the `restart:` block at the
  // end of the file (indent 2 to add restart keys, 0 for a new section).
  std::string orchestrator_extra, subagent_extra, top_extra;
  std::string health_extra;  // YAML lines under `health:` (indent 2)
  std::string orchestrator_model, subagent_model;  // default: fresh tiny models in dir
  int orchestrator_ctx = 1024, subagent_ctx = 512;
  int orchestrator_gpu_layers = 0;  // 99 puts its layers on its RPC workers (rpc: in orchestrator_extra)

  daemon_setup();
  ~daemon_setup();  // `openclawd stop`, then SIGKILL anything recorded that is still alive
  void write_config();
  run_result start(const std::map<std::string, std::string>& env = {});
  run_result stop();
  nlohmann::json status();  // `status --json`
  std::optional<int> node_pid(const std::string& node);
  std::optional<int> worker_pid(const std::string& worker);  // from `status --json`
  std::string node_state(const std::string& node);
  std::filesystem::path state_dir() const { return dir / "state"; }
  std::vector<pid_t> recorded_pids();
};

}  // namespace openclawd::test
