// `openclawd reload`: validates the configuration here, so that an invalid file is refused with
// its line and column before the daemon is disturbed, then signals the daemon (SIGHUP) and
// waits, bounded, for the outcome it records in state.json (app/reload.hpp does the work).
#include "app/command.hpp"
#include "app/instance.hpp"
#include "app/reload.hpp"
#include "supervisor/state_file.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

namespace openclawd::app {
namespace {
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::string_view reload_usage = R"(usage: openclawd reload [--config FILE] [--offline]

Applies the edited configuration to the running daemon without stopping it (SIGHUP does
the same). The file is validated first: an invalid one changes nothing (exit 2, with file,
line and column). Only a node whose command line changed (model, ctx, gpu_layers, port,
threads, parallel, extra_args, llama_server, url) restarts; the other keeps its process and
goes on answering. Messages for the restarting node wait for it (pipeline.not_ready_wait).
If the new settings do not become ready (the node exits, or startup_timeout passes), the
node goes back to its previous settings and model, and the reason is reported.
restart, health, logs, fallbacks and the timeouts apply at once; state_dir, search,
pipeline, telegram and admin take effect at the next start (the outcome names them).

A model named by reference (hf:owner/repo:QUANT) that is not in the model cache is pulled
first, with its progress shown, and only then is the daemon asked to swap (--offline: an
error instead, exit 1). A SIGHUP alone does not download: the daemon rejects a reference it
does not find in the cache.

Waits for the outcome and prints it (also in `openclawd status`).
  --config FILE   the YAML file the daemon runs (see docs/configuration.md)
Exit code: 0 applied, 1 rolled back or failed, 2 invalid configuration, 3 not running.
)";

// A changed node stops (stop_timeout) and starts (startup_timeout); if that fails, the
// previous settings start again. Both nodes go at once.
std::chrono::milliseconds reload_budget(const core::config& cfg) {
  std::chrono::milliseconds m{0};
  for (const auto& n : cfg.nodes) m = std::max(m, 2 * (n.stop_timeout + n.startup_timeout));
  return m + 15s;
}

int exit_code_of(const supervisor::reload_record& r) {
  if (r.outcome == "ok") return exit_ok;
  if (r.outcome == "rejected") return exit_usage;
  return exit_runtime_failure;
}

int cmd_reload(const command_args& a) {
  // A new quant is pulled here, with its progress on this terminal, before the daemon is
  // asked to swap: the daemon then finds it in the cache.
  int load_exit = exit_usage;
  auto cfg = load_config_pulling(a, a.flag("offline"), load_exit);
  if (!cfg) return load_exit;
  const auto paths = state_paths::of(cfg->state_dir);
  if (!instance_lock::held_by_other(paths.lock)) {
    print_error("openclawd is not running (state directory " + paths.dir.string() +
                "); nothing to reload: `openclawd start` reads the file as it is");
    return exit_not_running;
  }
  // The daemon writes its pidfile right after taking the lock: allow it a moment.
  std::optional<int> pid;
  for (const auto deadline = steady::now() + 2s; !(pid = read_pidfile(paths.pid)) && steady::now() < deadline;)
    std::this_thread::sleep_for(10ms);
  if (!pid) {
    print_error("a process holds " + paths.lock.string() + " but " + paths.pid.string() + " names no daemon");
    return exit_runtime_failure;
  }
  // The daemon re-reads the file it was started with: reloading another would be a
  // different daemon's job, and a surprise.
  if (auto st = supervisor::read_state_file(paths.state); st && !st->config.empty() && st->config != cfg->source.string()) {
    print_error("the daemon (pid " + std::to_string(*pid) + ") runs " + st->config + ", not " + cfg->source.string() +
                "; edit that file and reload, or stop it and start with this one");
    return exit_usage;
  }

  const std::int64_t sent_at = unix_ms_now();
  const auto t0 = steady::now();
  if (::kill(*pid, SIGHUP) != 0) {
    print_error("cannot signal the daemon (pid " + std::to_string(*pid) + "): " + std::strerror(errno));
    return exit_runtime_failure;
  }
  std::cout << "reloading " << cfg->source.string() << " (daemon pid " << *pid << ")\n" << std::flush;

  const auto budget = reload_budget(*cfg);
  bool announced = false;
  for (const auto deadline = steady::now() + budget; steady::now() < deadline;) {
    if (auto st = supervisor::read_state_file(paths.state); st && st->last_reload &&
                                                            st->last_reload->requested_at_unix_ms >= sent_at) {
      const auto& r = *st->last_reload;
      if (r.outcome != "in_progress") {
        char took[32];
        std::snprintf(took, sizeof took, " (%.2f s)",
                      std::chrono::duration<double>(steady::now() - t0).count());
        (r.outcome == "ok" ? std::cout : std::cerr) << describe_reload(r, true) << "\n";
        for (const auto& n : st->nodes) {
          const bool restarted = std::any_of(r.nodes.begin(), r.nodes.end(), [&](const auto& c) { return c.node == n.name; });
          std::cout << "  " << n.name << ": " << supervisor::to_string(n.state)
                    << (n.pid ? ", pid " + std::to_string(*n.pid) : std::string(n.remote() ? ", remote" : ""))
                    << (n.model.empty() ? std::string() : ", " + n.model.string())
                    << (restarted ? "" : " (kept running)") << "\n";
        }
        std::cout << "done" << took << "\n";
        return exit_code_of(r);
      }
      if (!announced && !r.nodes.empty()) {
        announced = true;
        std::cout << describe_reload(r, false) << "\n" << std::flush;
      }
    }
    if (!instance_lock::held_by_other(paths.lock)) {
      print_error("the daemon stopped before it reported the reload; see " + paths.daemon_log.string());
      return exit_runtime_failure;
    }
    std::this_thread::sleep_for(50ms);
  }
  print_error("no outcome within " + std::to_string(budget.count() / 1000) +
              " s; the reload may still be under way: see `openclawd status` and " + paths.daemon_log.string());
  return exit_runtime_failure;
}

}  // namespace

const command_spec reload_command{"reload", "apply the edited configuration; restarts only nodes that changed",
                                  reload_usage, {"offline"}, {"config"}, 0, cmd_reload};

}  // namespace openclawd::app
