// `openclawd start|stop|status`: the daemon's life cycle seen from the command line.
// start validates, locks, pre-flights and forks the daemon, then waits for its verdict on a
// pipe; stop signals it and waits for every child to be gone; status reads state.json.
#include "app/activity.hpp"
#include "app/admin_views.hpp"
#include "app/command.hpp"
#include "app/daemon.hpp"
#include "app/instance.hpp"
#include "app/reload.hpp"
#include "app/service.hpp"
#include "core/log.hpp"
#include "supervisor/load_phase.hpp"
#include "supervisor/os.hpp"
#include "supervisor/preflight.hpp"
#include "supervisor/state_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace openclawd::app {
namespace {
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::string_view start_usage = R"(usage: openclawd start [--config FILE] [--foreground] [--offline] [--log-level LEVEL]

Validates the configuration, checks both ports, and starts the daemon, which spawns both
llama-server nodes. Without --foreground it detaches and returns once both nodes answer
GET /health with 200 (exit 0, printing each node's URL), or as soon as a node fails
(exit 1, naming the node, why, and the last lines of its log); nothing is left running
after a failed start. If a daemon already runs on the same state_dir it says so and exits 0.

  --config FILE      the YAML configuration (see docs/configuration.md)
  --foreground       do not detach; log to stderr; stop on SIGTERM/SIGINT (for launchd,
                     systemd and debugging). A second signal kills the nodes at once.
  --offline          never download: a model named by reference (hf:owner/repo:QUANT) that
                     is not in the model cache is an error (exit 1). Without it, such a
                     model is pulled first, with its progress shown (see: openclawd pull).
  --log-level LEVEL  debug, info (default), warn or error
)";

constexpr std::string_view stop_usage = R"(usage: openclawd stop [--config FILE]

Asks the daemon to stop (SIGTERM). Each node gets SIGTERM, then SIGKILL after its
stop_timeout. Returns when the daemon and every node are gone: exit 0, also when it was
not running. Nodes left behind by a daemon that was killed are found and stopped too.
)";

constexpr std::string_view status_usage = R"(usage: openclawd status [--config FILE] [--json]

Shows whether the daemon runs and, for each node: state (stopped, starting, ready,
backoff, failed, stopping), pid, port, model, restarts and the last exit; then the last
reload's outcome (openclawd reload). A url: node (a server openclawd does not run) shows
"remote" for its pid, its URL, and the model it reports; backoff there means "down".
Works while the daemon is down (it says so, with the last recorded exits).

  --json   one JSON object: {"daemon":{"running":…,"pid":…,"uptime_s":…,"admin_url":…},"nodes":{…}}
           (the same as GET /status on the admin endpoint, when admin.port is set)
Exit code: 0 when the daemon runs, 3 when it does not.
)";

std::chrono::milliseconds longest_stop_timeout(const core::config& cfg) {
  std::chrono::milliseconds m{0};
  for (const auto& n : cfg.nodes) m = std::max(m, n.stop_timeout);
  return m;
}

std::string seconds(steady::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", std::chrono::duration<double>(d).count());
  return buf;
}

std::string human_duration(std::int64_t s) {
  if (s < 0) s = 0;
  char buf[64];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldd %02lldh", static_cast<long long>(s / 86400), static_cast<long long>(s % 86400 / 3600));
  return buf;
}

// A daemon log grows for months under launchd: keep the last one around, bounded.
void rotate_daemon_log(const state_paths& p, const core::config& cfg) {
  std::error_code ec;
  if (std::filesystem::file_size(p.daemon_log, ec) > cfg.logs.max_bytes && !ec) {
    std::filesystem::rename(p.daemon_log, p.daemon_log.string() + ".1", ec);
  }
}

// A second `start` is not an error (launchd's KeepAlive must not respawn it), but it is a
// chance to help: nodes that gave up get another try.
int report_already_running(const state_paths& p) {
  const auto pid = read_pidfile(p.pid);
  std::cout << "openclawd is already running" << (pid ? " (pid " + std::to_string(*pid) + ")" : std::string())
            << " with state directory " << p.dir.string() << "\n";
  std::string failed;
  if (auto st = supervisor::read_state_file(p.state)) {
    for (const auto& n : st->nodes)
      if (n.state == supervisor::process_state::failed) failed += (failed.empty() ? "" : ", ") + n.name;
  }
  if (pid && !failed.empty()) {
    if (::kill(*pid, SIGUSR1) == 0) {
      std::cout << "asked it to retry the failed node(s): " << failed << " (see: openclawd status)\n";
    } else {
      print_error("cannot signal the daemon (pid " + std::to_string(*pid) + "): " + std::strerror(errno));
      return exit_runtime_failure;
    }
  }
  return exit_ok;
}

void log_memory(const supervisor::memory_report& m) {
  std::string line = "memory estimate:";
  for (const auto& n : m.nodes) {
    line += " " + n.node + " " + supervisor::format_bytes(n.total()) + " (weights " +
            supervisor::format_bytes(n.weights_bytes) + " + KV " +
            (n.kv_known ? supervisor::format_bytes(n.kv_cache_bytes) : std::string("unknown")) + ");";
  }
  if (m.physical_bytes) line += " machine RAM " + supervisor::format_bytes(*m.physical_bytes);
  core::log_info("daemon", line);
}

int cmd_start(const command_args& a) {
  if (auto lvl = a.value("log-level").value_or("info"); lvl == "debug") core::set_log_level(core::log_level::debug);
  else if (lvl == "warn") core::set_log_level(core::log_level::warn);
  else if (lvl == "error") core::set_log_level(core::log_level::error);
  else if (lvl != "info") {
    print_error("--log-level must be debug, info, warn or error, not \"" + lvl + "\"");
    return exit_usage;
  }
  // Models named by reference are pulled first, visibly; --offline makes a missing one an error.
  int load_exit = exit_usage;
  auto cfg = load_config_pulling(a, a.flag("offline"), load_exit);
  if (!cfg) return load_exit;
  const auto paths = state_paths::of(cfg->state_dir);
  if (auto problem = prepare_state_dir(paths); !problem.empty()) {
    print_error(problem);
    return exit_runtime_failure;
  }

  // A `status` probing the lock holds it for microseconds: look twice before saying "running".
  std::optional<instance_lock> lock;
  for (int attempt = 0; attempt < 3 && !lock; ++attempt) {
    lock = instance_lock::try_acquire(paths.lock);
    if (!lock) {
      if (instance_lock::held_by_other(paths.lock)) return report_already_running(paths);
      std::this_thread::sleep_for(20ms);
    }
  }
  if (!lock) return report_already_running(paths);

  for (const auto& line : stop_recorded_children(paths, longest_stop_timeout(*cfg))) std::cerr << "openclawd: " << line << "\n";

  if (const auto problems = supervisor::check_ports(*cfg); !problems.empty()) {
    for (const auto& p : problems) print_error(p);
    print_error("nothing was started");
    return exit_runtime_failure;
  }
  const auto memory = supervisor::estimate_memory(*cfg);
  for (const auto& w : memory.warnings) std::cerr << "openclawd: warning: " << w << "\n";

  const char* no_pdeathsig = std::getenv("OPENCLAWD_NO_PDEATHSIG");
  daemon_options opts;
  opts.parent_death_signal = !(no_pdeathsig && std::string(no_pdeathsig) == "1");

  if (a.flag("foreground")) {
    opts.foreground = true;
    write_pidfile(paths.pid, static_cast<int>(::getpid()));
    log_memory(memory);
    const int rc = run_daemon(*cfg, paths, opts);
    std::error_code ec;
    std::filesystem::remove(paths.pid, ec);
    return rc;
  }

  rotate_daemon_log(paths, *cfg);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) {
    print_error(std::string("cannot create a pipe: ") + std::strerror(errno));
    return exit_runtime_failure;
  }
  ::fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(pipe_fds[1], F_SETFD, FD_CLOEXEC);  // no llama-server may hold the start command's pipe open

  std::cout.flush();
  std::cerr.flush();
  const auto t0 = steady::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    print_error(std::string("cannot fork: ") + std::strerror(errno));
    return exit_runtime_failure;
  }
  if (pid == 0) {
    // The daemon. No threads exist yet (no io_context was created before fork).
    ::close(pipe_fds[0]);
    ::setsid();  // leave the terminal's session: Ctrl-C or a closed terminal no longer reach us
    if (::chdir("/") != 0) { /* config paths are absolute; staying put is harmless */ }
    const int devnull = ::open("/dev/null", O_RDONLY);
    const int logfd = supervisor::os::open_cloexec(paths.daemon_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (logfd >= 0) {
      ::dup2(logfd, STDOUT_FILENO);
      ::dup2(logfd, STDERR_FILENO);
    }
    if (devnull > STDERR_FILENO) ::close(devnull);
    if (logfd > STDERR_FILENO) ::close(logfd);
    write_pidfile(paths.pid, static_cast<int>(::getpid()));
    core::log_info("daemon", "openclawd " OPENCLAWD_VERSION " starting (pid " + std::to_string(::getpid()) +
                                 ", config " + cfg->source.string() + ")");
    log_memory(memory);
    opts.notify_fd = pipe_fds[1];
    const int rc = run_daemon(*cfg, paths, opts);
    std::error_code ec;
    std::filesystem::remove(paths.pid, ec);
    std::fflush(nullptr);
    ::_exit(rc);  // the parent's stdio buffers must not be flushed twice
  }

  // The waiting `start`. The lock stays held: the daemon inherited the same open file.
  ::close(pipe_fds[1]);
  lock->release();
  bool ready = false, failed = false;
  // While nodes load, their progress: the phase llama-server last logged (supervisor/load_phase),
  // with the time since the start. On a terminal one line redrawn in place; otherwise a line
  // when the phase changes, at most every 5 s.
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::vector<std::string> loading;  // nodes not ready yet
  for (const auto& n : cfg->nodes)
    if (!n.remote()) loading.push_back(n.name);
  std::map<std::string, std::string> last_printed;  // plain lines: the phases last printed
  auto last_plain = steady::now();
  bool bar = false;
  auto clear_bar = [&] {
    if (bar) std::cout << "\r\033[K" << std::flush;
    bar = false;
  };
  auto show_progress = [&] {
    std::string line;
    bool changed = false;
    for (const auto& name : loading) {
      const auto phase = supervisor::parse_load_phase(supervisor::read_log_tail((paths.logs / (name + ".log")).string()));
      std::string text = name + ": loading " + seconds(steady::now() - t0);
      if (phase.percent) text += " " + std::to_string(*phase.percent) + "%";
      if (!phase.text.empty()) text += " (" + phase.text + ")";
      changed = changed || last_printed[name] != phase.text;
      line += (line.empty() ? "" : "; ") + text;
    }
    if (line.empty()) return;
    if (tty) {
      std::cout << "\r\033[K" << line.substr(0, 200) << std::flush;
      bar = true;
    } else if ((changed && steady::now() - last_plain >= 3s) || steady::now() - last_plain >= 15s) {
      // A log needs no line per half second: a new phase (at most every 3 s), else one every 15 s.
      std::cout << line << "\n" << std::flush;
      last_plain = steady::now();
      for (const auto& name : loading)
        last_printed[name] =
            supervisor::parse_load_phase(supervisor::read_log_tail((paths.logs / (name + ".log")).string())).text;
    }
  };
  std::string pending;
  auto next_line = [&](std::string& out) -> bool {  // false: the pipe is closed
    for (;;) {
      if (const auto nl = pending.find('\n'); nl != std::string::npos) {
        out = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        return true;
      }
      pollfd pfd{pipe_fds[0], POLLIN, 0};
      const int r = ::poll(&pfd, 1, 500);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        show_progress();
        continue;
      }
      char buf[4096];
      const auto n = ::read(pipe_fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      pending.append(buf, static_cast<std::size_t>(n));
    }
  };
  std::string line;
  while (next_line(line)) {
    const auto ev = nlohmann::json::parse(line, nullptr, false);
    if (!ev.is_object()) continue;
    const std::string kind = ev.value("event", "");
    clear_bar();
    if (kind == "node_ready") {
      std::erase(loading, ev.value("node", std::string()));
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.2f s", ev.value("ready_ms", 0.0) / 1000.0);
      // pid 0: a url: node, whose server runs elsewhere.
      const int node_pid = ev.value("pid", 0);
      std::cout << ev.value("node", "?") << " ready at " << ev.value("url", "?")
                << (node_pid != 0 ? " (pid " + std::to_string(node_pid) + ", loaded in " : std::string(" (remote, answered in "))
                << ms << ", model " << ev.value("model", "?") << ")\n";
    } else if (kind == "worker_ready") {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.2f s", ev.value("ready_ms", 0.0) / 1000.0);
      const int worker_pid = ev.value("pid", 0);
      std::cout << "RPC worker " << ev.value("worker", "?") << " ready at " << ev.value("endpoint", "?")
                << (worker_pid != 0 ? " (pid " + std::to_string(worker_pid) + ", answered in " : std::string(" (remote, answered in "))
                << ms << ", protocol " << ev.value("rpc_version", "?") << ")\n";
    } else if (kind == "ready") {
      ready = true;
      break;
    } else if (kind == "failed") {
      failed = true;
      print_error("node " + ev.value("node", "?") + " failed to start: " + ev.value("error", "?"));
    }
  }
  clear_bar();
  if (ready) {
    ::close(pipe_fds[0]);
    std::cout << "openclawd started (pid " << pid << ") in " << seconds(steady::now() - t0) << "; logs in "
              << paths.logs.string() << "\n";
    return exit_ok;
  }
  // Failed or died: the daemon stops its nodes before closing the pipe; reap it so that
  // nothing is left running when we return.
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!failed) {
    print_error("the daemon exited while starting (" + supervisor::os::decode_wait_status(status).describe() + "); see " +
        paths.daemon_log.string());
  }
  print_error("nothing is left running");
  return exit_runtime_failure;
}

int cmd_stop(const command_args& a) {
  auto cfg = load_config_for(a, /*check_files=*/false);
  if (!cfg) return exit_usage;
  const auto paths = state_paths::of(cfg->state_dir);
  const auto t0 = steady::now();
  if (!instance_lock::held_by_other(paths.lock)) {
    // A service manager between two respawns would start it again: stop the job there too.
    if (const auto m = stop_through_service_manager(*cfg, std::nullopt); !m.message.empty())
      std::cout << m.message << "\n";
    for (const auto& line : stop_recorded_children(paths, longest_stop_timeout(*cfg))) std::cout << line << "\n";
    std::cout << "openclawd is not running\n";
    return exit_ok;
  }
  // The daemon writes its pidfile right after taking the lock: allow it a moment.
  std::optional<int> pid;
  for (const auto deadline = steady::now() + 2s; !(pid = read_pidfile(paths.pid)) && steady::now() < deadline;)
    std::this_thread::sleep_for(10ms);
  if (!pid) {
    print_error("a process holds " + paths.lock.string() + " but " + paths.pid.string() + " names no daemon; not stopping");
    return exit_runtime_failure;
  }
  // Under launchd or systemd the manager owns the daemon: a SIGTERM behind its back leaves
  // its view wrong, and a daemon that ends up SIGKILLed would be respawned (KeepAlive,
  // Restart=). So ask the manager when the daemon is its job (app/service.hpp), else (or if
  // the manager fails) SIGTERM. Either way, wait below until the daemon and every node are gone.
  const auto managed = stop_through_service_manager(*cfg, *pid);
  if (!managed.message.empty()) (managed.ok ? std::cout : std::cerr) << managed.message << "\n";
  if (!managed.ok && ::kill(*pid, SIGTERM) != 0 && errno != ESRCH) {
    print_error("cannot signal the daemon (pid " + std::to_string(*pid) + "): " + std::strerror(errno));
    return exit_runtime_failure;
  }
  // Each node gets its grace period, concurrently; allow for both plus a margin.
  const auto budget = longest_stop_timeout(*cfg) + 15s;
  const auto deadline = steady::now() + budget;
  while (instance_lock::held_by_other(paths.lock) && steady::now() < deadline) std::this_thread::sleep_for(20ms);
  if (instance_lock::held_by_other(paths.lock)) {
    print_error("the daemon (pid " + std::to_string(*pid) + ") did not stop within " + seconds(budget) + "; killing it");
    ::kill(*pid, SIGKILL);
    for (const auto d2 = steady::now() + 5s; instance_lock::held_by_other(paths.lock) && steady::now() < d2;)
      std::this_thread::sleep_for(20ms);
  }
  for (const auto& line : stop_recorded_children(paths, 2s)) std::cout << line << "\n";
  if (const auto live = live_recorded_children(paths); !live.empty()) {
    for (const auto& n : live) print_error(n.name + " (pid " + std::to_string(*n.pid) + ") is still running");
    return exit_runtime_failure;
  }
  std::cout << "openclawd stopped (pid " << *pid << ") in " << seconds(steady::now() - t0) << "\n";
  return exit_ok;
}

int cmd_status(const command_args& a) {
  auto cfg = load_config_for(a, /*check_files=*/false);
  if (!cfg) return exit_usage;
  const auto paths = state_paths::of(cfg->state_dir);
  const bool running = instance_lock::held_by_other(paths.lock);
  supervisor::daemon_status st;
  if (auto recorded = supervisor::read_state_file(paths.state)) st = std::move(*recorded);
  if (st.config.empty()) st.config = cfg->source.string();
  // Nodes the daemon never announced (first run): show them from the config.
  for (const auto& n : cfg->nodes) {
    const bool known = std::any_of(st.nodes.begin(), st.nodes.end(), [&](auto& s) { return s.name == n.name; });
    if (!known) {
      supervisor::node_status s;
      s.name = n.name;
      s.port = n.port;
      s.model = n.model;
      s.remote_url = n.url;
      st.nodes.push_back(s);
    }
  }
  if (running) {
    if (auto pid = read_pidfile(paths.pid)) st.pid = *pid;
  }
  const auto now = unix_ms_now();
  if (a.flag("json")) {
    std::cout << status_document(st, running, now, cfg->admin.port, paths.dir) << "\n";
    return running ? exit_ok : exit_not_running;
  }

  if (running) {
    std::cout << "openclawd is running (pid " << st.pid << ", up "
              << human_duration((now - st.started_at_unix_ms) / 1000) << ")\n";
  } else {
    std::cout << "openclawd is not running\n";
  }
  std::cout << "config:    " << st.config << "\nstate dir: " << paths.dir.string() << "\n";
  if (running && cfg->admin.port != 0) std::cout << "admin:     " << admin_url(cfg->admin.port) << "\n";
  std::cout << "\n";
  std::printf("%-13s %-9s %-8s %-6s %-9s %s\n", "NODE", "STATE", "PID", "PORT", "RESTARTS", "MODEL");
  for (const auto& n : st.nodes) {
    const std::string state = running ? std::string(supervisor::to_string(n.state)) : "stopped";
    const std::string pid = n.remote() ? "remote" : running && n.pid ? std::to_string(*n.pid) : "-";
    const std::string port = n.remote() ? "-" : std::to_string(n.port);
    // A url: node: where it is, and the model its server reports.
    const std::string model =
        n.remote() ? n.remote_url + (n.model.empty() ? "" : " (" + n.model.string() + ")") : n.model.string();
    std::printf("%-13s %-9s %-8s %-6s %-9d %s\n", n.name.c_str(), state.c_str(), pid.c_str(), port.c_str(), n.restarts,
                model.c_str());
  }
  // Long work in progress: a pull (any process), a node loading its model.
  for (const auto& [what, line] : activity_rows(activity_json(st, running, paths.dir)))
    std::cout << "  " << what << ": " << line << "\n";
  for (const auto& n : st.nodes) {
    if (running && !n.chat_template.empty())
      std::cout << "  " << n.name << ": template: " << n.chat_template
                << (n.chat_template_problem.empty() ? "" : " (" + n.chat_template_problem + ")") << "\n";
    if (n.last_exit)
      std::cout << "  " << n.name << ": last exit " << n.last_exit->at << ": " << n.last_exit->description << " ("
                << n.last_exit->reason << ")\n";
    if (!n.switch_reason.empty())
      std::cout << "  " << n.name << ": switched from " << n.switched_from.string() << " at " << n.switched_at
                << ": " << n.switch_reason << "\n";
    if (running && n.state == supervisor::process_state::backoff && n.remote())
      std::cout << "  " << n.name << ": down: " << n.error << "\n";
    else if (running && n.state == supervisor::process_state::backoff && !n.retry_at.empty())
      std::cout << "  " << n.name << ": next attempt at " << n.retry_at << "\n";
    if (running && n.state == supervisor::process_state::failed && !n.error.empty())
      std::cout << "  " << n.name << ": failed: " << n.error << "\n";
  }
  // Workers the daemon never announced (first run, or a daemon from before workers): from the config.
  for (const auto& w : cfg->workers) {
    if (std::any_of(st.workers.begin(), st.workers.end(), [&](auto& s) { return s.name == w.name; })) continue;
    supervisor::node_status s;
    s.name = w.name;
    s.endpoint = w.endpoint();
    if (w.is_remote()) s.remote_url = s.endpoint;
    for (const auto& n : cfg->nodes)
      if (std::find(n.rpc.begin(), n.rpc.end(), w.name) != n.rpc.end()) s.used_by.push_back(n.name);
    st.workers.push_back(s);
  }
  if (!st.workers.empty()) {
    std::cout << "\n";
    std::printf("%-13s %-9s %-8s %-22s %-9s %s\n", "RPC WORKER", "STATE", "PID", "ENDPOINT", "RESTARTS", "USED BY");
    for (const auto& w : st.workers) {
      const std::string state = running ? std::string(supervisor::to_string(w.state)) : "stopped";
      const std::string pid = w.remote() ? "remote" : running && w.pid ? std::to_string(*w.pid) : "-";
      std::string used;
      for (const auto& u : w.used_by) used += (used.empty() ? "" : ", ") + u;
      std::printf("%-13s %-9s %-8s %-22s %-9d %s\n", w.name.c_str(), state.c_str(), pid.c_str(), w.endpoint.c_str(),
                  w.restarts, used.c_str());
    }
    for (const auto& w : st.workers) {
      if (w.last_exit)
        std::cout << "  " << w.name << ": last exit " << w.last_exit->at << ": " << w.last_exit->description << " ("
                  << w.last_exit->reason << ")\n";
      if (running && (w.state == supervisor::process_state::failed || w.state == supervisor::process_state::backoff) &&
          !w.error.empty())
        std::cout << "  " << w.name << ": " << supervisor::to_string(w.state) << ": " << w.error << "\n";
    }
  }
  if (st.last_reload)
    std::cout << "last reload " << (st.last_reload->finished_at.empty() ? st.last_reload->requested_at : st.last_reload->finished_at)
              << ": " << describe_reload(*st.last_reload, false) << "\n";
  if (!running) {
    for (const auto& n : live_recorded_children(paths))
      std::cout << "  " << n.name << ": pid " << *n.pid
                << " is still running without its daemon; `openclawd stop` or the next start stops it\n";
  }
  return running ? exit_ok : exit_not_running;
}

}  // namespace

const command_spec start_command{"start", "start the daemon; returns once both nodes are ready", start_usage,
                                 {"foreground", "offline"}, {"config", "log-level"}, 0, cmd_start};
const command_spec stop_command{"stop", "stop the daemon and every node it runs", stop_usage, {}, {"config"}, 0,
                                cmd_stop};
const command_spec status_command{"status", "show the daemon and each node (state, pid, port, model, restarts)",
                                  status_usage, {"json"}, {"config"}, 0, cmd_status};

}  // namespace openclawd::app
