// The files in a state directory and the lock that makes one daemon per directory:
//   openclawd.lock  flock()ed by the daemon for its whole life (the truth about "running")
//   openclawd.pid   the daemon's pid, written after the lock is taken
//   state.json      the supervisor's last announcement (supervisor/state_file.hpp)
//   logs/           daemon.log, orchestrator.log, subagent.log (+ rotated .1 .. .N)
// Used by the CLI process and by the daemon; no threads involved.
#pragma once

#include "core/config.hpp"
#include "supervisor/node_status.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::app {

struct state_paths {
  std::filesystem::path dir, lock, pid, state, logs, daemon_log;
  static state_paths of(const std::filesystem::path& state_dir);
};

// Creates the state directory and logs/ (mode 0700). Returns an error sentence or "".
std::string prepare_state_dir(const state_paths& p);

class instance_lock {
 public:
  instance_lock() = default;
  ~instance_lock();
  instance_lock(instance_lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  instance_lock& operator=(instance_lock&& o) noexcept;

  // Takes the lock without waiting. nullopt: another process holds it.
  static std::optional<instance_lock> try_acquire(const std::filesystem::path& lock_file);
  // True when some process holds the lock (a daemon runs on this state dir).
  static bool held_by_other(const std::filesystem::path& lock_file);

  int fd() const noexcept { return fd_; }
  void release();

 private:
  explicit instance_lock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

std::optional<int> read_pidfile(const std::filesystem::path& pid_file);
bool write_pidfile(const std::filesystem::path& pid_file, int pid);

// Stops children recorded in state.json that are still alive (same pid *and* start
// time): what a daemon killed with SIGKILL leaves behind where the OS does not kill
// them for us (macOS). SIGTERM to each group, `grace`, then SIGKILL. Returns one
// sentence per child it had to stop.
std::vector<std::string> stop_recorded_children(const state_paths& p, std::chrono::milliseconds grace);

// Nodes recorded in state.json whose process still runs.
std::vector<supervisor::node_status> live_recorded_children(const state_paths& p);

std::int64_t unix_ms_now();

}  // namespace openclawd::app
