#include "app/service.hpp"

#include "app/service_templates.hpp"  // generated from launchd/*.in by app/CMakeLists.txt

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <pwd.h>
#include <unistd.h>

#if defined(__APPLE__)
#include <mach-o/dyld.h>
#endif

namespace openclawd::app {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<fs::path> home_dir() {
  if (auto h = env("HOME")) return fs::path(*h);
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr && *pw->pw_dir != '\0')
    return fs::path(pw->pw_dir);
  return std::nullopt;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void reject_control_characters(std::string_view s, std::string_view what) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t') {
      throw render_error(std::string(what) + " contains a control character (a newline?): \"" + std::string(s) +
                         "\"; rename it");
    }
  }
}

std::string xml_unescape(std::string_view s) {
  static const std::pair<std::string_view, char> entities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    bool matched = false;
    if (s[i] == '&') {
      for (const auto& [name, ch] : entities) {
        if (s.substr(i, name.size()) == name) {
          out += ch;
          i += name.size();
          matched = true;
          break;
        }
      }
    }
    if (!matched) out += s[i++];
  }
  return out;
}

}  // namespace

service_manager platform_service_manager() noexcept {
#if defined(__APPLE__)
  return service_manager::launchd;
#else
  return service_manager::systemd;
#endif
}

std::string_view to_string(service_manager m) noexcept {
  switch (m) {
    case service_manager::none: return "none";
    case service_manager::launchd: return "launchd";
    case service_manager::systemd: return "systemd";
  }
  return "?";
}

std::optional<service_manager> service_manager_from_env(std::string* bad) {
  const auto v = env("OPENCLAWD_SERVICE_MANAGER");
  if (!v || *v == "auto") return platform_service_manager();
  if (*v == "none") return service_manager::none;
  if (*v == "launchd") return service_manager::launchd;
  if (*v == "systemd") return service_manager::systemd;
  if (bad) *bad = *v;
  return std::nullopt;
}

std::optional<fs::path> service_file_path(service_manager m) {
  if (m == service_manager::none) m = platform_service_manager();
  const auto home = home_dir();
  if (m == service_manager::launchd) {
    if (!home) return std::nullopt;
    return *home / "Library" / "LaunchAgents" / (std::string(launchd_label) + ".plist");
  }
  fs::path base;
  if (auto xdg = env("XDG_CONFIG_HOME"); xdg && fs::path(*xdg).is_absolute()) base = *xdg;
  else if (home) base = *home / ".config";
  else return std::nullopt;
  return base / "systemd" / "user" / std::string(systemd_unit_name);
}

std::chrono::seconds service_stop_timeout(const core::config& cfg) {
  std::chrono::milliseconds sum{0};
  for (const auto& n : cfg.nodes) sum += n.stop_timeout;
  return std::chrono::ceil<std::chrono::seconds>(sum) + 15s;
}

std::string service_path_env(const core::config& cfg) {
  std::vector<std::string> dirs;
  auto add = [&](const std::string& d) {
    if (!d.empty() && std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  };
  for (const auto& n : cfg.nodes)
    if (n.llama_server.is_absolute()) add(n.llama_server.parent_path().string());
#if defined(__APPLE__)
  for (const char* d : {"/opt/homebrew/bin", "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"}) add(d);
#else
  for (const char* d : {"/usr/local/bin", "/usr/bin", "/bin"}) add(d);
#endif
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ":") + d;
  return out;
}

std::optional<fs::path> current_executable() {
#if defined(__APPLE__)
  // Not realpath()ed: Homebrew's /opt/homebrew/bin/openclawd symlink survives upgrades,
  // the versioned Cellar path it points to does not.
  std::uint32_t size = 0;
  _NSGetExecutablePath(nullptr, &size);
  std::string buf(size, '\0');
  if (_NSGetExecutablePath(buf.data(), &size) != 0) return std::nullopt;
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  std::error_code ec;
  const auto p = fs::absolute(buf, ec);
  if (ec) return std::nullopt;
  return p.lexically_normal();
#else
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec || !p.is_absolute()) return std::nullopt;
  return p;
#endif
}

// --- Rendering -------------------------------------------------------------------------------

std::string fill_template(std::string_view tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(tmpl.size() + 512);
  std::size_t i = 0;
  while (i < tmpl.size()) {
    const auto at = tmpl.find('@', i);
    if (at == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, at - i));
    const auto close = tmpl.find('@', at + 1);
    const auto name = close == std::string_view::npos ? std::string_view{} : tmpl.substr(at + 1, close - at - 1);
    const bool is_placeholder =
        !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
    if (!is_placeholder) {
      out += '@';
      i = at + 1;
      continue;
    }
    const auto it = values.find(std::string(name));
    if (it == values.end()) throw render_error("template placeholder @" + std::string(name) + "@ has no value");
    out += it->second;  // inserted once, never rescanned: a path may contain '@'
    i = close + 1;
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  reject_control_characters(s, "a value for the property list");
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string systemd_quote(std::string_view s, bool is_program) {
  reject_control_characters(s, "a path for the systemd unit");
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '%': out += "%%"; break;  // specifiers (%h, %u, ...) are expanded everywhere
      // systemd expands $VAR in arguments but never in the program path, where "$$"
      // would stay two characters (checked with systemd-analyze verify).
      case '$': out += is_program ? "$" : "$$"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string systemd_escape_specifiers(std::string_view s) {
  reject_control_characters(s, "a path for the systemd unit");
  std::string out;
  for (const char c : s) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

namespace {

std::map<std::string, std::string> environment_of(const service_spec& spec) {
  std::map<std::string, std::string> all = spec.extra_env;
  all["PATH"] = spec.path_env;
  return all;
}

}  // namespace

std::string render_launchd_plist(const service_spec& spec) {
  std::string environment;
  for (const auto& [k, v] : environment_of(spec)) {
    if (!environment.empty()) environment += "\n";
    environment += "\t\t<key>" + xml_escape(k) + "</key>\n\t\t<string>" + xml_escape(v) + "</string>";
  }
  return fill_template(templates::launchd_plist,
                       {{"LABEL", std::string(launchd_label)},
                        {"PROGRAM", xml_escape(spec.program.string())},
                        {"CONFIG", xml_escape(spec.config.string())},
                        {"ENVIRONMENT", environment},
                        {"RESTART_DELAY_S", std::to_string(spec.restart_delay.count())},
                        {"STOP_TIMEOUT_S", std::to_string(spec.stop_timeout.count())},
                        {"LOG_FILE", xml_escape(spec.log_file.string())}});
}

std::string render_systemd_unit(const service_spec& spec) {
  std::string environment;
  for (const auto& [k, v] : environment_of(spec)) {
    // Environment= does not expand $ (only specifiers), so only \ " % need care.
    std::string assignment = k + "=" + v;
    reject_control_characters(assignment, "an environment value for the systemd unit");
    std::string quoted = "\"";
    for (const char c : assignment) {
      if (c == '\\' || c == '"') quoted += '\\';
      quoted += c == '%' ? std::string("%%") : std::string(1, c);
    }
    if (!environment.empty()) environment += "\n";
    environment += "Environment=" + quoted + "\"";
  }
  const std::string exec_start = systemd_quote(spec.program.string(), /*is_program=*/true) +
                                 " start --foreground --config " + systemd_quote(spec.config.string());
  return fill_template(templates::systemd_unit,
                       {{"EXEC_START", exec_start},
                        {"ENVIRONMENT", environment},
                        {"RESTART_DELAY_S", std::to_string(spec.restart_delay.count())},
                        {"STOP_TIMEOUT_S", std::to_string(spec.stop_timeout.count())},
                        {"LOG_FILE", systemd_escape_specifiers(spec.log_file.string())}});
}

std::string render_service_file(service_manager m, const service_spec& spec) {
  return m == service_manager::launchd ? render_launchd_plist(spec) : render_systemd_unit(spec);
}

std::optional<fs::path> config_in_service_text(std::string_view text, service_manager m) {
  if (m == service_manager::launchd) {
    constexpr std::string_view flag = "<string>--config</string>";
    const auto f = text.find(flag);
    if (f == std::string_view::npos) return std::nullopt;
    const auto open = text.find("<string>", f + flag.size());
    const auto close = open == std::string_view::npos ? open : text.find("</string>", open);
    if (close == std::string_view::npos) return std::nullopt;
    return fs::path(xml_unescape(text.substr(open + 8, close - open - 8)));
  }
  constexpr std::string_view flag = "--config \"";
  const auto f = text.find(flag);
  if (f == std::string_view::npos) return std::nullopt;
  std::string out;
  for (std::size_t i = f + flag.size(); i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') return fs::path(out);
    if (c == '\\' && i + 1 < text.size()) out += text[++i];
    else if ((c == '%' || c == '$') && i + 1 < text.size() && text[i + 1] == c) out += text[++i];
    else if (c == '\n') break;
    else out += c;
  }
  return std::nullopt;
}

std::optional<fs::path> service_file_config(const fs::path& file, service_manager m) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  if (m == service_manager::none) m = platform_service_manager();
  return config_in_service_text(slurp(file), m);
}

// --- The manager -------------------------------------------------------------------------------

namespace {

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::optional<int> parse_pid(std::string_view s) {
  int v = 0;
  if (s.empty() || s.size() > 9) return std::nullopt;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return std::nullopt;
  return v;
}

}  // namespace

job_state parse_launchctl_print(int exit_code, const std::string& output) {
  job_state j;
  if (exit_code != 0) {
    // 113: "Could not find service ... in domain": not bootstrapped. Anything else is a
    // failure to ask (no GUI session over ssh, for one).
    if (exit_code == 113 || output.find("Could not find service") != std::string::npos) {
      j.answered = true;
      j.summary = "not loaded";
    } else {
      j.problem = "launchctl print exited with code " + std::to_string(exit_code) + ": " + trim(output);
    }
    return j;
  }
  j.answered = true;
  j.loaded = true;
  std::string state;
  int depth = 0;
  std::istringstream in(output);
  std::string raw;
  while (std::getline(in, raw)) {
    const std::string line = trim(raw);
    if (line == "}") {
      --depth;
      continue;
    }
    if (depth == 1) {
      if (const auto eq = line.find(" = "); eq != std::string::npos) {
        const std::string key = line.substr(0, eq), value = line.substr(eq + 3);
        if (key == "state" && state.empty()) state = value;
        if (key == "pid" && !j.pid) j.pid = parse_pid(value);
      }
    }
    if (!line.empty() && line.back() == '{') ++depth;
  }
  j.summary = "loaded, " + (state.empty() ? std::string("state unknown") : state) +
              (j.pid ? ", pid " + std::to_string(*j.pid) : std::string());
  return j;
}

job_state parse_systemctl_show(const std::string& output) {
  job_state j;
  j.answered = true;
  std::map<std::string, std::string> props;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (const auto eq = line.find('='); eq != std::string::npos) props[line.substr(0, eq)] = trim(line.substr(eq + 1));
  }
  const auto& load = props["LoadState"];
  const auto& active = props["ActiveState"];
  const auto& sub = props["SubState"];
  if (load == "not-found") {
    j.summary = "not loaded (systemd knows no openclawd.service; run `systemctl --user daemon-reload`?)";
    return j;
  }
  // "activating (auto-restart)" is the wait before a respawn: loaded, and about to fight.
  j.loaded = active == "active" || active == "activating" || active == "deactivating" || active == "reloading";
  j.pid = parse_pid(props["MainPID"]);
  j.summary = (active.empty() ? std::string("unknown") : active) + (sub.empty() ? "" : " (" + sub + ")") +
              (j.pid ? ", pid " + std::to_string(*j.pid) : std::string());
  return j;
}

std::string launchd_domain() { return "gui/" + std::to_string(::getuid()); }
std::string launchd_service_target() { return launchd_domain() + "/" + std::string(launchd_label); }

program_result run_manager(const std::vector<std::string>& argv, std::chrono::milliseconds deadline) {
  return run_program(argv, deadline);
}

job_state query_job(service_manager m) {
  const auto ask = m == service_manager::launchd
                       ? std::vector<std::string>{"launchctl", "print", launchd_service_target()}
                       : std::vector<std::string>{"systemctl", "--user", "show", "-p", "LoadState", "-p",
                                                  "ActiveState", "-p", "SubState", "-p", "MainPID",
                                                  std::string(systemd_unit_name)};
  const auto r = run_manager(ask, 15s);
  if (!r.started || r.timed_out) {
    job_state j;
    j.problem = ask[0] + ": " + r.describe();
    return j;
  }
  if (m == service_manager::launchd) return parse_launchctl_print(r.exit_code, r.output);
  if (r.exit_code != 0) {
    job_state j;
    j.problem = "systemctl --user show " + r.describe();  // "Failed to connect to bus": no user session
    return j;
  }
  return parse_systemctl_show(r.output);
}

stop_route choose_stop_route(bool service_installed, const job_state& job, std::optional<int> daemon_pid) {
  if (!service_installed || !job.answered) return stop_route::signal;
  // A running daemon is the manager's only if it is the job's own process: a daemon the
  // user started by hand (or one for another config) is stopped with a signal as usual.
  if (daemon_pid) return job.pid && *job.pid == *daemon_pid ? stop_route::manager : stop_route::signal;
  // Nothing runs, but the manager holds a loaded job: between respawns (a model that keeps
  // failing) it would start the daemon again behind the user's back.
  return job.loaded ? stop_route::manager : stop_route::signal;
}

manager_stop stop_through_service_manager(const core::config& cfg, std::optional<int> daemon_pid) {
  manager_stop out;
  const auto m = service_manager_from_env();
  if (!m || *m == service_manager::none) return out;
  const auto file = service_file_path(*m);
  std::error_code ec;
  if (!file || !fs::is_regular_file(*file, ec)) return out;
  if (!daemon_pid) {
    // No daemon to compare pids with: only touch the job if it runs this very config.
    const auto runs = service_file_config(*file, *m);
    std::error_code ec1, ec2;
    if (!runs || fs::weakly_canonical(*runs, ec1) != fs::weakly_canonical(cfg.source, ec2)) return out;
  }
  const auto job = query_job(*m);
  if (choose_stop_route(true, job, daemon_pid) == stop_route::signal) {
    if (!job.answered && daemon_pid)
      out.message = "could not ask " + std::string(to_string(*m)) + " whether it runs openclawd (" + job.problem +
                    "); stopping it with SIGTERM";
    return out;
  }
  out.attempted = true;
  const auto argv = *m == service_manager::launchd
                        ? std::vector<std::string>{"launchctl", "bootout", launchd_service_target()}
                        : std::vector<std::string>{"systemctl", "--user", "stop", std::string(systemd_unit_name)};
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
  // The manager itself waits up to its stop timeout before SIGKILL; allow for that.
  const auto r = run_manager(argv, service_stop_timeout(cfg) + 15s);
  // launchctl bootout: 36 "Operation now in progress" (the job is still exiting) and 3 "No
  // such process" (it just went away) both mean it is on its way out; we wait for it below.
  const bool bootout_pending =
      *m == service_manager::launchd && r.started && !r.timed_out && (r.exit_code == 36 || r.exit_code == 3);
  out.ok = r.ok() || bootout_pending;
  if (out.ok) {
    out.message = daemon_pid ? "openclawd runs under " + std::string(to_string(*m)) + ": stopping it there (" + shown + ")"
                             : std::string(to_string(*m)) + " could start openclawd again (" + job.summary +
                                   "): stopping it there (" + shown + ")";
    if (*m == service_manager::launchd)
      out.message += "; it starts again at the next login, or with `openclawd service install`";
  } else {
    out.message = "`" + shown + "` failed (" + r.describe() + "); stopping openclawd with SIGTERM instead";
  }
  return out;
}

}  // namespace openclawd::app
