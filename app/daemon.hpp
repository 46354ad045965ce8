// The daemon: one io_context on the main thread, the supervisor (and later the
// gateway) on it, and one signal_set. SIGTERM/SIGINT stop both nodes through their
// stop ladders and return; a second one SIGKILLs the children at once.
// The caller holds the state directory's lock for the daemon's whole life.
#pragma once

#include "app/instance.hpp"
#include "core/config.hpp"

namespace openclawd::app {

struct daemon_options {
  bool foreground = false;
  // Write end of the pipe the `start` command waits on: one JSON line per event
  // ({"event":"ready",...} / {"event":"failed",...}), then EOF. -1: nobody waits.
  int notify_fd = -1;
  bool parent_death_signal = true;
};

// Returns the process exit code: 0 after a requested stop, 1 when a node failed to start.
int run_daemon(const core::config& cfg, const state_paths& paths, const daemon_options& options);

}  // namespace openclawd::app
