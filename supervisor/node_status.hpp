// Plain snapshots of what the supervisor knows, as written to state.json and shown
// by `openclawd status`. Values only: copying one never touches a live process.
#pragma once

#include "supervisor/process_state.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::supervisor {

struct exit_record {
  std::optional<int> code;    // normal exit code
  std::optional<int> signal;  // or the signal that ended it
  std::string description;    // "killed by signal 9 (SIGKILL)"
  std::string reason;         // why we consider it ended: "exited while starting", "liveness probe failed", ...
  std::string at;             // UTC timestamp
};

struct node_status {
  std::string name;
  process_state state = process_state::stopped;
  std::optional<int> pid;
  std::optional<std::uint64_t> pid_start_time;  // identifies the pid across pid reuse
  int port = 0;
  std::filesystem::path model;  // the model it runs (or will run next)
  int model_index = 0;          // 0 = `model`, 1.. = fallbacks
  int restarts = 0;             // respawns after a failure since the daemon started
  std::optional<exit_record> last_exit;
  std::string error;            // why it is in `failed` or `backoff`; empty otherwise
  std::string since;            // UTC timestamp of the last state change
  std::string retry_at;         // UTC timestamp of the next attempt while in `backoff`
  std::optional<double> ready_ms;  // spawn → first GET /health 200, for the current child
  // The last GET /health of the current child took this long (a probe that timed out
  // shows the timeout). Live only: it changes without a transition, so it is not in
  // state.json, which is rewritten on transitions; /metrics and the status page show it.
  std::optional<double> health_ms;
  // The last switch to another model (a fallback) and why: "degenerate output: repeated
  // special token <unused50> (3 times)", "crashed 5 times in a row", "could not load".
  std::string switch_reason;
  std::string switched_at;
  std::filesystem::path switched_from;
  int switches = 0;  // switches to a next fallback model since the daemon started

  // What the model's chat template accepts, as the daemon learned it when the node became
  // ready ("system role, strict alternation"), and, when it refuses even a plain exchange, the
  // template's error. Empty until probed; describes `model` only.
  std::string chat_template;
  std::string chat_template_problem;

  // A `url:` node: the server openclawd health-checks but does not run ("http://host:port");
  // port and pid stay unset, and model is what the server reports (GET /v1/models), if anything.
  std::string remote_url;

  // An RPC worker (daemon_status::workers): where nodes reach it ("127.0.0.1:50052"), which
  // nodes use it, and the protocol version its last handshake reported ("8.0.0").
  std::string endpoint;
  std::vector<std::string> used_by;
  std::string rpc_version;

  bool remote() const { return !remote_url.empty(); }
  std::string url() const { return remote() ? remote_url : "http://127.0.0.1:" + std::to_string(port); }
};

// The last configuration reload (`openclawd reload`, SIGHUP) and how it ended.
struct reload_record {
  std::int64_t requested_at_unix_ms = 0;  // when the daemon received the request (the CLI waits for a newer one)
  std::string requested_at;               // UTC timestamps
  std::string finished_at;                // empty while under way
  std::string outcome;                    // in_progress | ok | rejected | rolled_back | failed
  std::string reason;                     // rejected: file:line:col: key: message; else why not as asked
  struct node_change {
    std::string node;
    std::string change;  // what differs in its command line: "model: a.gguf → b.gguf, ctx: 512 → 1024"
    std::string result;  // pending | restarted | rolled_back | failed
    std::string reason;  // rolled_back, failed: why the new settings did not become ready
  };
  std::vector<node_change> nodes;     // only nodes whose command line changed (the others kept their process)
  std::vector<std::string> applied;   // other changes now in effect: "health", "nodes.subagent.fallbacks"
  std::vector<std::string> deferred;  // changed sections that take effect at the next start: "search"
};

struct daemon_status {
  int pid = 0;
  std::int64_t started_at_unix_ms = 0;
  std::string started_at;  // UTC timestamp
  std::string config;      // the YAML file it runs
  std::vector<node_status> nodes;
  std::vector<node_status> workers;  // RPC workers, in config order (docs/operations.md)
  std::optional<reload_record> last_reload;
};

}  // namespace openclawd::supervisor
