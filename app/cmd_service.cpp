// `openclawd service install|uninstall|status`: runs the daemon under the user's service
// manager (a LaunchAgent on macOS, a systemd user unit on Linux) with `start --foreground`,
// so that it starts at login and is respawned after a failure. Rendering and talking to the
// manager live in app/service.cpp; this file is the command's flow and its messages.
#include "app/command.hpp"
#include "app/instance.hpp"
#include "app/service.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>

extern char** environ;

namespace openclawd::app {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view service_usage = R"(usage: openclawd service install|uninstall|status [--config FILE] [--dry-run]

Runs openclawd under the user's service manager, which starts it at login and respawns it
after a failure (never after a clean stop): a LaunchAgent on macOS
(~/Library/LaunchAgents/com.openclaw.openclawd.plist, loaded with launchctl bootstrap
gui/<uid>), a systemd user unit on Linux (~/.config/systemd/user/openclawd.service,
enabled and started with systemctl --user). The service runs
`openclawd start --foreground --config <absolute path>` with this openclawd binary.

  install     validate the config, write the service file, (re)load it; running again
              after an edit of the YAML's paths or a move of the binary rewrites it and
              restarts the service; unchanged, it only makes sure the service is loaded
  uninstall   stop the service (and with it the daemon and both nodes), remove the file
  status      the file (up to date?), what the manager says, and whether the running
              daemon is the manager's

  --config FILE  the YAML (uninstall/status default to the one the installed file runs)
  --dry-run      install: print the file that would be written, change nothing

While the service manager runs openclawd, `openclawd stop` stops it through the manager
(systemctl --user stop / launchctl bootout), so that the manager does not start it again.
Environment: OPENCLAWD_SERVICE_MANAGER=none writes or removes the file without calling
launchctl/systemctl (also: launchd, systemd, auto). Exit codes: 0 ok (status: installed),
1 the manager failed, 2 usage or configuration error, 3 status: not installed.
)";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shown(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Runs `fn` with exactly `vars` as the environment, then restores the original. The CLI
// has one thread, so nobody else reads the environment meanwhile.
template <class F>
auto with_environment(const std::map<std::string, std::string>& vars, F&& fn) {
  std::vector<std::string> saved;
  for (char** p = environ; *p != nullptr; ++p) saved.emplace_back(*p);
  auto clear = [] {
    std::vector<std::string> names;
    for (char** p = environ; *p != nullptr; ++p) {
      const std::string entry(*p);
      names.push_back(entry.substr(0, entry.find('=')));
    }
    for (const auto& n : names) ::unsetenv(n.c_str());
  };
  struct restore {
    std::vector<std::string>& saved;
    decltype(clear)& clear_all;
    ~restore() {
      clear_all();
      for (const auto& s : saved) {
        const auto eq = s.find('=');
        if (eq != std::string::npos) ::setenv(s.substr(0, eq).c_str(), s.substr(eq + 1).c_str(), 1);
      }
    }
  } guard{saved, clear};
  clear();
  for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
  return fn();
}

service_spec make_spec(const core::config& cfg, const fs::path& config_path, const fs::path& program) {
  service_spec spec;
  spec.program = program;
  spec.config = config_path;
  spec.log_file = state_paths::of(cfg.state_dir).daemon_log;
  spec.path_env = service_path_env(cfg);
  spec.stop_timeout = service_stop_timeout(cfg);
  // The default state_dir follows $XDG_STATE_HOME: without it the service would use another
  // folder than this shell, and `openclawd stop` or `status` would not find the daemon.
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && fs::path(x).is_absolute()) spec.extra_env["XDG_STATE_HOME"] = x;
  return spec;
}

// The manager starts openclawd with a bare environment: HOME, USER and what the file sets.
// Load the config as it will, so that a $VARIABLE only this shell has fails now, not at
// the next login with nobody watching.
std::optional<std::string> check_service_environment(const service_spec& spec, const core::config& cfg) {
  std::map<std::string, std::string> vars = spec.extra_env;
  vars["PATH"] = spec.path_env;
  for (const char* k : {"HOME", "USER", "LOGNAME"})
    if (const char* v = std::getenv(k)) vars[k] = v;
  auto loaded = with_environment(vars, [&] { return core::load_config(spec.config, core::load_options{true}); });
  std::string env_list;
  for (const auto& [k, v] : vars) env_list += (env_list.empty() ? "" : ", ") + k;
  if (!loaded) {
    return "started by the service manager (environment: " + env_list + "), openclawd could not load its config: " +
           loaded.error().to_string() + "\nuse absolute paths or ~ in the YAML instead of variables only your shell sets";
  }
  if (loaded->state_dir != cfg.state_dir)
    return "started by the service manager, openclawd would use state_dir " + loaded->state_dir.string() +
           " instead of " + cfg.state_dir.string() + "; set state_dir: in " + cfg.source.string();
  for (std::size_t i = 0; i < cfg.nodes.size() && i < loaded->nodes.size(); ++i) {
    if (loaded->nodes[i].llama_server != cfg.nodes[i].llama_server)
      return "started by the service manager, node " + cfg.nodes[i].name + " would run " +
             loaded->nodes[i].llama_server.string() + " instead of " + cfg.nodes[i].llama_server.string() +
             "; set llama_server: to the full path";
  }
  return std::nullopt;
}

bool write_atomically(const fs::path& file, const std::string& text, std::string& why) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) {
    why = "cannot create " + file.parent_path().string() + ": " + ec.message();
    return false;
  }
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      why = "cannot write " + tmp.string();
      return false;
    }
  }
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
                  ec);
  fs::rename(tmp, file, ec);
  if (ec) {
    why = "cannot rename " + tmp.string() + " to " + file.string() + ": " + ec.message();
    return false;
  }
  return true;
}

// Explains the usual reason systemctl --user fails: no user manager for this shell.
void hint_for_manager_failure(service_manager m, const std::string& output) {
  if (m == service_manager::systemd &&
      (output.find("bus") != std::string::npos || output.find("XDG_RUNTIME_DIR") != std::string::npos)) {
    print_error("systemctl --user needs the user manager of a login session, and this shell has none (ssh "
                "without lingering, su, a container); `loginctl enable-linger $USER` keeps one running");
  } else if (m == service_manager::launchd) {
    print_error("launchctl gui/<uid> needs the user to be logged in to the desktop (not only over ssh)");
  }
}

bool run_step(service_manager m, const std::vector<std::string>& argv, std::chrono::milliseconds deadline) {
  const auto r = run_manager(argv, deadline);
  if (r.ok()) return true;
  print_error("`" + shown(argv) + "` failed: " + r.describe());
  hint_for_manager_failure(m, r.output);
  return false;
}

struct daemon_view {
  std::optional<int> pid;  // set when a daemon holds the state directory's lock
};

daemon_view look_at_daemon(const core::config& cfg) {
  const auto paths = state_paths::of(cfg.state_dir);
  daemon_view v;
  if (instance_lock::held_by_other(paths.lock)) {
    for (const auto deadline = std::chrono::steady_clock::now() + 1s;
         !(v.pid = read_pidfile(paths.pid)) && std::chrono::steady_clock::now() < deadline;)
      std::this_thread::sleep_for(10ms);
    if (!v.pid) v.pid = 0;  // running, pid not known yet
  }
  return v;
}

int load_with_systemd(bool changed) {
  const auto m = service_manager::systemd;
  const std::string unit(systemd_unit_name);
  if (!run_step(m, {"systemctl", "--user", "daemon-reload"}, 30s)) return exit_runtime_failure;
  if (!run_step(m, {"systemctl", "--user", "enable", unit}, 30s)) return exit_runtime_failure;
  const auto job = query_job(m);
  // A changed file must replace the running daemon; an unchanged one is left alone (a
  // restart would reload both models for nothing).
  const bool restart = changed && job.loaded;
  if (!run_step(m, {"systemctl", "--user", restart ? "restart" : "start", unit}, 60s)) return exit_runtime_failure;
  std::cout << (restart ? "restarted " : "enabled and started ") << unit << " (systemctl --user)\n";
  return exit_ok;
}

int load_with_launchd(bool changed, const fs::path& file, const core::config& cfg) {
  const auto m = service_manager::launchd;
  const auto job = query_job(m);
  if (!job.answered) {
    print_error("cannot ask launchd about " + std::string(launchd_label) + ": " + job.problem);
    hint_for_manager_failure(m, job.problem);
    return exit_runtime_failure;
  }
  if (job.loaded && !changed) {
    std::cout << "already loaded in " << launchd_domain() << " (" << job.summary << ")\n";
    return exit_ok;
  }
  if (job.loaded) {
    // launchd reads a plist only when it is bootstrapped: unload the old one first.
    const auto r = run_manager({"launchctl", "bootout", launchd_service_target()}, service_stop_timeout(cfg) + 15s);
    if (!r.ok() && r.exit_code != 36 && r.exit_code != 3) {
      print_error("`launchctl bootout " + launchd_service_target() + "` failed: " + r.describe());
      return exit_runtime_failure;
    }
  }
  // Right after a bootout launchd may still be tearing the old job down and answer 5
  // (I/O error) or 37 (in progress): try again for a few seconds.
  const std::vector<std::string> argv{"launchctl", "bootstrap", launchd_domain(), file.string()};
  program_result r;
  for (const auto deadline = std::chrono::steady_clock::now() + 5s;;) {
    r = run_manager(argv, 30s);
    if (r.ok() || std::chrono::steady_clock::now() >= deadline || r.timed_out || !r.started) break;
    std::this_thread::sleep_for(250ms);
  }
  if (!r.ok()) {
    print_error("`" + shown(argv) + "` failed: " + r.describe());
    hint_for_manager_failure(m, r.output);
    return exit_runtime_failure;
  }
  std::cout << (job.loaded ? "reloaded " : "loaded ") << launchd_label << " in " << launchd_domain()
            << " (launchctl bootstrap)\n";
  return exit_ok;
}

int service_install(const command_args& a, service_manager m, const fs::path& file) {
  const auto named = find_config_file(a);
  if (!named) return exit_usage;
  std::error_code ec;
  // The path as the user named it, not resolved through symlinks: relative paths inside
  // the YAML are relative to the folder it was named in (core/config.hpp).
  const fs::path config_path = fs::absolute(*named, ec).lexically_normal();
  auto cfg = core::load_config(config_path, core::load_options{true});
  if (!cfg) {
    print_error(cfg.error().to_string());
    print_error("the service was not installed");
    return exit_usage;
  }
  const auto program = current_executable();
  if (!program) {
    print_error("cannot find the path of this openclawd executable");
    return exit_runtime_failure;
  }
  const auto spec = make_spec(*cfg, config_path, *program);
  if (auto problem = check_service_environment(spec, *cfg)) {
    print_error(*problem);
    print_error("the service was not installed");
    return exit_usage;
  }
  const auto kind = m == service_manager::none ? platform_service_manager() : m;
  std::string text;
  try {
    text = render_service_file(kind, spec);
  } catch (const render_error& e) {
    print_error(e.what());
    return exit_usage;
  }
  if (a.flag("dry-run")) {
    std::cout << "# openclawd service install would write " << file.string() << ":\n" << text;
    return exit_ok;
  }

  // launchd opens StandardErrorPath itself and does not create folders.
  if (auto problem = prepare_state_dir(state_paths::of(cfg->state_dir)); !problem.empty()) {
    print_error(problem);
    return exit_runtime_failure;
  }
  const bool existed = fs::exists(file, ec);
  const bool changed = !existed || slurp(file) != text;
  if (changed) {
    std::string why;
    if (!write_atomically(file, text, why)) {
      print_error(why);
      return exit_runtime_failure;
    }
    std::cout << (existed ? "updated " : "wrote ") << file.string() << "\n";
  } else {
    std::cout << file.string() << " is up to date\n";
  }
  std::cout << "  runs: " << spec.program.string() << " start --foreground --config " << spec.config.string() << "\n"
            << "  log:  " << spec.log_file.string() << "  (openclawd logs daemon)\n";

  if (m == service_manager::none) {
    std::cout << "not loaded (OPENCLAWD_SERVICE_MANAGER=none); load it with: "
              << (kind == service_manager::launchd
                      ? "launchctl bootstrap " + launchd_domain() + " " + file.string()
                      : std::string("systemctl --user daemon-reload && systemctl --user enable --now openclawd"))
              << "\n";
    return exit_ok;
  }
  const int rc = m == service_manager::systemd ? load_with_systemd(changed) : load_with_launchd(changed, file, *cfg);
  if (rc != exit_ok) {
    print_error("the service file is in place but not loaded; once the manager is reachable, run this again or: " +
                (m == service_manager::launchd
                     ? "launchctl bootstrap " + launchd_domain() + " " + file.string()
                     : std::string("systemctl --user daemon-reload && systemctl --user enable --now openclawd")));
    return rc;
  }
  const auto job = query_job(m);
  const auto daemon = look_at_daemon(*cfg);
  std::cout << to_string(m) << ": " << (job.answered ? job.summary : job.problem) << "\n";
  if (daemon.pid && *daemon.pid > 0 && job.pid != daemon.pid) {
    std::cout << "note: openclawd already runs (pid " << *daemon.pid
              << ") outside the service manager, so the service's own start found it and exited; "
                 "`openclawd stop && openclawd service install` puts it under "
              << to_string(m) << "\n";
  }
  std::cout << "check the nodes with: openclawd status --config " << spec.config.string() << "\n";
  return exit_ok;
}

// The config for uninstall and status: --config, else the one the installed file runs,
// else the usual lookup. Loaded without checking files: a missing model must not keep
// anyone from removing the service.
std::optional<core::config> config_for(const command_args& a, service_manager m, const fs::path& file,
                                       fs::path* named_out = nullptr) {
  std::optional<fs::path> named;
  if (a.value("config")) named = find_config_file(a);
  else if (auto from_file = service_file_config(file, m)) named = from_file;
  else {
    for (const auto& c : core::default_config_candidates()) {
      std::error_code ec;
      if (fs::exists(c, ec)) {
        named = c;
        break;
      }
    }
  }
  if (!named) return std::nullopt;
  std::error_code ec;
  if (named_out) *named_out = fs::absolute(*named, ec).lexically_normal();
  auto cfg = core::load_config(*named, core::load_options{false});
  if (!cfg) {
    print_error(cfg.error().to_string());
    return std::nullopt;
  }
  return std::move(*cfg);
}

int service_uninstall(const command_args& a, service_manager m, const fs::path& file) {
  std::error_code ec;
  const bool installed = fs::is_regular_file(file, ec);
  const auto cfg = config_for(a, m, file);
  const auto before = cfg ? look_at_daemon(*cfg) : daemon_view{};
  job_state job;
  bool failed = false;
  if (m != service_manager::none) {
    job = query_job(m);
    if (!job.answered) {
      print_error("cannot ask " + std::string(to_string(m)) + " about openclawd: " + job.problem);
      hint_for_manager_failure(m, job.problem);
      failed = true;
    } else if (m == service_manager::systemd && installed) {
      failed = !run_step(m, {"systemctl", "--user", "disable", "--now", std::string(systemd_unit_name)},
                         cfg ? service_stop_timeout(*cfg) + 15s : 60s);
    } else if (m == service_manager::systemd && job.loaded) {
      failed = !run_step(m, {"systemctl", "--user", "stop", std::string(systemd_unit_name)},
                         cfg ? service_stop_timeout(*cfg) + 15s : 60s);
    } else if (m == service_manager::launchd && job.loaded) {
      const auto r = run_manager({"launchctl", "bootout", launchd_service_target()},
                                 cfg ? service_stop_timeout(*cfg) + 15s : 60s);
      if (!r.ok() && r.exit_code != 36 && r.exit_code != 3) {
        print_error("`launchctl bootout " + launchd_service_target() + "` failed: " + r.describe());
        failed = true;
      }
    }
  }
  if (installed) {
    fs::remove(file, ec);
    if (ec) {
      print_error("cannot remove " + file.string() + ": " + ec.message());
      return exit_runtime_failure;
    }
    std::cout << "removed " << file.string() << "\n";
    if (m == service_manager::systemd && !failed) failed = !run_step(m, {"systemctl", "--user", "daemon-reload"}, 30s);
  } else {
    std::cout << "no service file at " << file.string() << "\n";
  }

  // The manager stopped the daemon it ran: make sure it and every node are gone.
  if (cfg && before.pid && *before.pid > 0) {
    const auto paths = state_paths::of(cfg->state_dir);
    if (job.pid == before.pid) {
      const auto deadline = std::chrono::steady_clock::now() + service_stop_timeout(*cfg);
      while (instance_lock::held_by_other(paths.lock) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
      if (instance_lock::held_by_other(paths.lock)) {
        print_error("openclawd (pid " + std::to_string(*before.pid) + ") is still running; `openclawd stop` stops it");
        return exit_runtime_failure;
      }
      for (const auto& line : stop_recorded_children(paths, 2s)) std::cout << line << "\n";
      std::cout << "openclawd (pid " << *before.pid << ") stopped with the service\n";
    } else if (instance_lock::held_by_other(paths.lock)) {
      std::cout << "openclawd still runs (pid " << *before.pid
                << "), started outside the service manager; `openclawd stop` stops it\n";
    }
  }
  return failed ? exit_runtime_failure : exit_ok;
}

int service_status(const command_args& a, service_manager m, const fs::path& file) {
  std::error_code ec;
  const bool installed = fs::is_regular_file(file, ec);
  const auto kind = m == service_manager::none ? platform_service_manager() : m;
  std::cout << "service file: " << file.string() << " ("
            << (kind == service_manager::launchd ? "launchd LaunchAgent" : "systemd user unit") << ", "
            << (installed ? "installed" : "not installed") << ")\n";
  fs::path named;
  const auto cfg = config_for(a, m, file, &named);
  if (installed) {
    const auto runs = service_file_config(file, m);
    std::cout << "runs config:  " << (runs ? runs->string() : std::string("? (not written by openclawd)")) << "\n";
    // Up to date means: `service install` would write exactly this file now.
    std::string verdict;
    const auto program = current_executable();
    auto full = cfg ? core::load_config(named, core::load_options{true}) : core::config_result<core::config>(core::config_error{});
    if (!cfg || !program) {
      verdict = "cannot tell (no readable config)";
    } else if (!full) {
      verdict = "cannot tell: " + full.error().to_string();
    } else {
      try {
        verdict = render_service_file(kind, make_spec(*full, named, *program)) == slurp(file)
                      ? "yes"
                      : "no: `openclawd service install` would write another file (binary, config path, PATH or "
                        "stop timeouts changed); run it again";
      } catch (const render_error& e) {
        verdict = std::string("cannot tell: ") + e.what();
      }
    }
    std::cout << "up to date:   " << verdict << "\n";
  }
  job_state job;
  if (m == service_manager::none) {
    std::cout << "manager:      not asked (OPENCLAWD_SERVICE_MANAGER=none)\n";
  } else {
    job = query_job(m);
    std::cout << "manager:      " << to_string(m) << ": " << (job.answered ? job.summary : "cannot ask: " + job.problem) << "\n";
  }
  if (cfg) {
    const auto d = look_at_daemon(*cfg);
    std::cout << "daemon:       ";
    if (!d.pid) std::cout << "not running\n";
    else if (job.pid && job.pid == d.pid)
      std::cout << "running (pid " << *d.pid << ") under " << to_string(m)
                << "; `openclawd stop` stops it through " << to_string(m) << "\n";
    else if (*d.pid > 0) std::cout << "running (pid " << *d.pid << "), started outside the service manager\n";
    else std::cout << "starting (no pidfile yet)\n";
  }
  return installed ? exit_ok : exit_not_running;
}

int cmd_service(const command_args& a) {
  if (a.positional.empty()) {
    print_error("service needs a subcommand: install, uninstall or status (see: openclawd help service)");
    return exit_usage;
  }
  const auto& sub = a.positional[0];
  if (sub != "install" && sub != "uninstall" && sub != "status") {
    print_error("unknown service subcommand \"" + sub + "\"; expected install, uninstall or status");
    return exit_usage;
  }
  if (a.flag("dry-run") && sub != "install") {
    print_error("--dry-run is for `service install` only");
    return exit_usage;
  }
  std::string bad;
  const auto m = service_manager_from_env(&bad);
  if (!m) {
    print_error("OPENCLAWD_SERVICE_MANAGER must be auto, launchd, systemd or none, not \"" + bad + "\"");
    return exit_usage;
  }
  const auto file = service_file_path(*m);
  if (!file) {
    print_error("no home directory ($HOME is not set): cannot tell where the service file goes");
    return exit_usage;
  }
  if (sub == "install") return service_install(a, *m, *file);
  if (sub == "uninstall") return service_uninstall(a, *m, *file);
  return service_status(a, *m, *file);
}

}  // namespace

const command_spec service_command{"service", "install, remove or inspect the launchd/systemd service", service_usage,
                                   {"dry-run"}, {"config"}, 1, cmd_service};

}  // namespace openclawd::app
