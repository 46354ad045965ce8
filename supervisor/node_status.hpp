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
  // The last switch to another model (a fallback) and why: "degenerate output: repeated
  // special token <unused50> (3 times)", "crashed 5 times in a row", "could not load".
  std::string switch_reason;
  std::string switched_at;
  std::filesystem::path switched_from;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

struct daemon_status {
  int pid = 0;
  std::int64_t started_at_unix_ms = 0;
  std::string started_at;  // UTC timestamp
  std::string config;      // the YAML file it runs
  std::vector<node_status> nodes;
};

}  // namespace openclawd::supervisor
