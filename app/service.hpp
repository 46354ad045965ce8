// Running openclawd under the user's service manager: launchd (a LaunchAgent) on macOS,
// a systemd user unit on Linux. Rendering the service file is pure (templates in launchd/,
// compiled in); talking to the manager goes through run_program() and $PATH, which is the
// seam tests use to put fake `launchctl`/`systemctl` scripts in front. Blocking; CLI only.
#pragma once

#include "app/run_program.hpp"
#include "core/config.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::app {

inline constexpr std::string_view launchd_label = "com.openclaw.openclawd";
inline constexpr std::string_view systemd_unit_name = "openclawd.service";

enum class service_manager { none, launchd, systemd };
std::string_view to_string(service_manager m) noexcept;
service_manager platform_service_manager() noexcept;  // launchd on macOS, systemd elsewhere

// $OPENCLAWD_SERVICE_MANAGER: unset or "auto" → this platform's manager (launchd on macOS,
// systemd elsewhere); "launchd" or "systemd" → that one (tests drive either on any OS);
// "none" → service files are written and removed but no manager is ever called, and
// `stop` never goes through one. nullopt (with *bad set) for any other value.
std::optional<service_manager> service_manager_from_env(std::string* bad = nullptr);

// Where the service file lives: ~/Library/LaunchAgents/com.openclaw.openclawd.plist, or
// $XDG_CONFIG_HOME/systemd/user/openclawd.service (default ~/.config/...). `none` answers
// with the platform's own location. nullopt when $HOME is unknown.
std::optional<std::filesystem::path> service_file_path(service_manager m);

// Everything a service file says, as plain values.
struct service_spec {
  std::filesystem::path program;      // absolute path of the openclawd executable
  std::filesystem::path config;       // absolute path of the YAML, as the user named it
  std::filesystem::path log_file;     // <state_dir>/logs/daemon.log: the daemon's stdout and stderr
  std::string path_env;               // PATH for the daemon (the manager's default lacks Homebrew)
  std::map<std::string, std::string> extra_env;  // e.g. XDG_STATE_HOME, when the config depends on it
  std::chrono::seconds stop_timeout{35};  // launchd ExitTimeOut / systemd TimeoutStopSec
  std::chrono::seconds restart_delay{10};  // launchd ThrottleInterval / systemd RestartSec
};

// ExitTimeOut/TimeoutStopSec: the sum of the nodes' stop grace periods (the daemon stops
// them concurrently, but the sum also covers a slow reap) plus a margin, rounded up. Below
// it the manager would SIGKILL the daemon in the middle of its own stop ladder.
std::chrono::seconds service_stop_timeout(const core::config& cfg);

// PATH for the service: the folders of the nodes' llama-server programs, then the
// platform's standard folders. Deterministic, so a reinstall only changes the file when
// something real changed.
std::string service_path_env(const core::config& cfg);

// The openclawd executable's own absolute path (/proc/self/exe, _NSGetExecutablePath).
std::optional<std::filesystem::path> current_executable();

// --- Pure rendering --------------------------------------------------------------------------

// Thrown when a value cannot be written into a service file (a newline in a path).
struct render_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Replaces each @NAME@ in `tmpl` with values[NAME]. Throws render_error naming a
// placeholder that has no value; text without @…@ pairs is copied as is.
std::string fill_template(std::string_view tmpl, const std::map<std::string, std::string>& values);

std::string xml_escape(std::string_view s);  // & < > " ' → entities; control characters rejected
// One word of a systemd ExecStart= line, double-quoted: \ and " escaped, % → %%, and for
// arguments (not the program itself, which systemd never expands) $ → $$.
std::string systemd_quote(std::string_view s, bool is_program = false);
std::string systemd_escape_specifiers(std::string_view s);  // % → %%, for paths in other keys

std::string render_launchd_plist(const service_spec& spec);
std::string render_systemd_unit(const service_spec& spec);
std::string render_service_file(service_manager m, const service_spec& spec);  // m != none

// --- The manager -------------------------------------------------------------------------------

// What the manager says about openclawd's job.
struct job_state {
  bool answered = false;  // the manager could be asked (false: see `problem`)
  bool loaded = false;    // launchd: bootstrapped; systemd: active, activating or auto-restarting
  std::optional<int> pid; // the daemon's pid when the manager runs it
  std::string summary;    // "running, pid 123", "active (running)", "not loaded"
  std::string problem;    // why the manager could not be asked
};

// Pure parsers of the managers' answers, for tests.
job_state parse_launchctl_print(int exit_code, const std::string& output);
job_state parse_systemctl_show(const std::string& output);

std::string launchd_domain();          // "gui/<uid>": the logged-in user's GUI session
std::string launchd_service_target();  // "gui/<uid>/com.openclaw.openclawd"

// Asks the manager (launchctl print / systemctl --user show). `m` must not be none.
job_state query_job(service_manager m);

// Runs `argv` with a deadline and returns its result; logs nothing.
program_result run_manager(const std::vector<std::string>& argv,
                           std::chrono::milliseconds deadline = std::chrono::seconds(30));

// --- Stopping a managed daemon ---------------------------------------------------------------

// How `openclawd stop` ends the daemon. Pure, for tests:
//   manager - the service file is installed and either the manager's job *is* the daemon
//             (same pid), or no daemon runs but the job is loaded (a respawn is pending);
//             stopping it behind the manager's back would start a fight (KeepAlive/Restart=).
//   signal  - otherwise: SIGTERM to the pid in the pidfile, as without a service manager.
enum class stop_route { signal, manager };
stop_route choose_stop_route(bool service_installed, const job_state& job, std::optional<int> daemon_pid);

struct manager_stop {
  bool attempted = false;  // the manager was asked to stop openclawd
  bool ok = false;         // and said it did
  std::string message;     // one sentence for the user
};

// For `openclawd stop`: asks the manager to stop openclawd when choose_stop_route says so
// (systemctl --user stop openclawd.service; launchctl bootout gui/<uid>/com.openclaw.openclawd,
// which also keeps KeepAlive from starting it again until the next login or `service
// install`). `daemon_pid` is the running daemon's pid, nullopt when none runs. The caller
// still waits for the daemon and its children to be gone, and falls back to SIGTERM when
// the manager failed.
manager_stop stop_through_service_manager(const core::config& cfg, std::optional<int> daemon_pid);

// The --config path an installed service file runs, read back from the file (unquoted or
// XML-unescaped); nullopt when the file is missing or not one of ours.
std::optional<std::filesystem::path> service_file_config(const std::filesystem::path& file, service_manager m);
std::optional<std::filesystem::path> config_in_service_text(std::string_view text, service_manager m);  // pure

}  // namespace openclawd::app
