// End-to-end tests of `openclawd service|stop|doctor|logs` with the real binary and the real
// llama-server. The service manager is replaced by fake `systemctl`/`launchctl` scripts put
// first on PATH: they record their arguments, answer like the real ones, and (when asked to)
// start the daemon from the installed file's own command line, as the manager would. HOME and
// XDG_CONFIG_HOME point into a temporary folder, so nothing of the machine's is touched.
#include "core/gguf.hpp"
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace openclawd::test;
namespace fs = std::filesystem;

namespace {

// Shared by both fakes: is a pid alive (zombies are not), and stop the job's daemon.
constexpr std::string_view fake_common = R"sh(
st="$FAKE_MANAGER_STATE"
mkdir -p "$st"
pid=$(cat "$st/pid" 2>/dev/null)
alive() {
  [ -n "$1" ] && [ -e "/proc/$1/stat" ] || return 1
  s=$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)
  [ "$s" != Z ] && [ "$s" != X ]
}
stop_job() {
  if alive "$pid"; then
    kill -TERM "$pid"
    i=0
    while alive "$pid" && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
  fi
  rm -f "$st/pid"
  pid=
}
)sh";

// systemctl --user, as openclawd calls it. FAKE_MANAGER_SPAWN=1 runs the unit's ExecStart=.
constexpr std::string_view fake_systemctl = R"sh(
echo "systemctl $*" >> "$FAKE_MANAGER_LOG"
unit="$XDG_CONFIG_HOME/systemd/user/openclawd.service"
start_job() {
  alive "$pid" && return
  if [ "$FAKE_MANAGER_SPAWN" = 1 ]; then
    eval "set -- $(sed -n 's/^ExecStart=//p' "$unit")"
    "$@" </dev/null >>"$st/daemon.out" 2>&1 &
    echo $! > "$st/pid"
  fi
  echo active > "$st/active"
}
case "$*" in
  "--user daemon-reload"|"--user enable openclawd.service") ;;
  "--user stop openclawd.service"|"--user disable --now openclawd.service") stop_job; echo inactive > "$st/active" ;;
  "--user start openclawd.service") start_job ;;
  "--user restart openclawd.service") stop_job; start_job ;;
  "--user show "*)
    echo "LoadState=loaded"
    echo "ActiveState=${FAKE_ACTIVE_STATE:-$(cat "$st/active" 2>/dev/null || echo inactive)}"
    echo "SubState=${FAKE_SUB_STATE:-running}"
    if alive "$pid"; then echo "MainPID=$pid"; else echo "MainPID=0"; fi ;;
  *) echo "fake systemctl: unexpected arguments: $*" >&2; exit 1 ;;
esac
)sh";

// launchctl print|bootstrap|bootout, as openclawd calls it. FAKE_MANAGER_SPAWN=1 runs the
// plist's ProgramArguments (read with plistlib, as launchd reads the file).
constexpr std::string_view fake_launchctl = R"sh(
echo "launchctl $*" >> "$FAKE_MANAGER_LOG"
case "$1" in
  print)
    if [ ! -f "$st/loaded" ]; then
      echo "Could not find service \"com.openclaw.openclawd\" in domain for user gui: $(id -u)" >&2
      exit 113
    fi
    echo "$2 = {"
    if alive "$pid"; then printf '\tstate = running\n\tpid = %s\n' "$pid"; else printf '\tstate = not running\n'; fi
    echo "}" ;;
  bootstrap)
    if [ -f "$st/loaded" ]; then echo "Bootstrap failed: 37: Operation already in progress" >&2; exit 37; fi
    touch "$st/loaded"
    if [ "$FAKE_MANAGER_SPAWN" = 1 ]; then
      python3 -c 'import os, plistlib, sys
p = plistlib.load(open(sys.argv[1], "rb"))["ProgramArguments"]
os.execv(p[0], p)' "$3" </dev/null >>"$st/daemon.out" 2>&1 &
      echo $! > "$st/pid"
    fi ;;
  bootout)
    if [ ! -f "$st/loaded" ]; then echo "Boot-out failed: 3: No such process" >&2; exit 3; fi
    stop_job
    rm -f "$st/loaded" ;;
  *) echo "fake launchctl: unexpected arguments: $*" >&2; exit 1 ;;
esac
)sh";

std::string contents(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// A temporary HOME with fake managers on PATH.
struct fake_home {
  temp_dir dir;
  fs::path home = dir / "home";
  fs::path bin = dir / "fakebin";
  fs::path log = dir / "manager.log";
  fs::path state = dir / "manager-state";

  fake_home() {
    fs::create_directories(home);
    fs::create_directories(bin);
    for (const auto& [name, body] : {std::pair{"systemctl", fake_systemctl}, std::pair{"launchctl", fake_launchctl}}) {
      write_file(bin / name, "#!/bin/sh\n" + std::string(fake_common) + std::string(body));
      fs::permissions(bin / name, fs::perms::owner_all);
    }
  }
  ~fake_home() {
    // A daemon the fake started and a failed test left behind.
    if (auto pid = std::atoi(contents(state / "pid").c_str()); pid > 1 && process_alive(pid)) {
      ::kill(pid, SIGTERM);
      wait_until([&] { return !process_alive(pid); }, deadline_short);
    }
  }

  std::map<std::string, std::string> env(const std::string& manager, bool spawn = false,
                                         std::map<std::string, std::string> more = {}) const {
    const char* path = std::getenv("PATH");
    more["HOME"] = home.string();
    more["XDG_CONFIG_HOME"] = (home / ".config").string();
    more["PATH"] = bin.string() + ":" + (path ? path : "/usr/bin:/bin");
    more["OPENCLAWD_SERVICE_MANAGER"] = manager;
    more["FAKE_MANAGER_LOG"] = log.string();
    more["FAKE_MANAGER_STATE"] = state.string();
    more["FAKE_MANAGER_SPAWN"] = spawn ? "1" : "0";
    return more;
  }

  fs::path unit() const { return home / ".config" / "systemd" / "user" / "openclawd.service"; }
  fs::path plist() const { return home / "Library" / "LaunchAgents" / "com.openclaw.openclawd.plist"; }

  // The manager calls so far, without the read-only queries; then forgets them.
  std::vector<std::string> actions() {
    std::vector<std::string> out;
    std::istringstream in(contents(log));
    std::string line;
    while (std::getline(in, line))
      if (line.find(" show ") == std::string::npos && line.rfind("launchctl print", 0) != 0) out.push_back(line);
    fs::remove(log);
    return out;
  }
};

using calls = std::vector<std::string>;

run_result openclawd_with(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return run_openclawd(args, deadline_long, env);
}


// Another program listening on 127.0.0.1:port, for as long as it lives.
struct port_holder {
  int fd = -1;
  explicit port_holder(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 1) == 0);
  }
  ~port_holder() { ::close(fd); }
};

nlohmann::json doctor_json(const fs::path& config, int expected_exit) {
  const auto r = run_openclawd({"doctor", "--json", "--config", config.string()});
  INFO("doctor stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == expected_exit);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

// The row named `check` of a doctor --json answer.
nlohmann::json doctor_row(const nlohmann::json& j, const std::string& check) {
  for (const auto& row : j["checks"])
    if (row["check"] == check) return row;
  FAIL("no doctor row named " << check << " in " << j.dump());
  return {};
}

}  // namespace

// --- service ---------------------------------------------------------------------------------

TEST_CASE("service: install, status and uninstall round-trip in a temporary HOME", "[ops][service]") {
  daemon_setup d;
  d.write_config();
  fake_home h;
  const auto env = h.env("none");

  const auto dry = openclawd_with({"service", "install", "--dry-run", "--config", d.config.string()}, env);
  CHECK(dry.exit_code == 0);
  CHECK_THAT(dry.out, Catch::Contains("ExecStart=\"" + openclawd_bin().string() + "\" start --foreground --config \"" +
                                      d.config.string() + "\""));
  CHECK_FALSE(fs::exists(h.unit()));

  const auto st0 = openclawd_with({"service", "status", "--config", d.config.string()}, env);
  CHECK(st0.exit_code == 3);
  CHECK_THAT(st0.out, Catch::Contains("not installed"));

  const auto in = openclawd_with({"service", "install", "--config", d.config.string()}, env);
  INFO(in.out << in.err);
  REQUIRE(in.exit_code == 0);
  REQUIRE(fs::exists(h.unit()));
  CHECK(contents(h.unit()) == dry.out.substr(dry.out.find('\n') + 1));
  CHECK_THAT(in.out, Catch::Contains("not loaded (OPENCLAWD_SERVICE_MANAGER=none)"));
  CHECK(fs::is_directory(d.state_dir() / "logs"));  // the manager opens daemon.log there

  // status finds the config through the installed file alone.
  const auto st = openclawd_with({"service", "status"}, env);
  CHECK(st.exit_code == 0);
  CHECK_THAT(st.out, Catch::Contains("runs config:  " + d.config.string()));
  CHECK_THAT(st.out, Catch::Contains("up to date:   yes"));
  CHECK_THAT(st.out, Catch::Contains("daemon:       not running"));
  CHECK_THAT(openclawd_with({"service", "install", "--config", d.config.string()}, env).out,
             Catch::Contains("is up to date"));

  // A longer stop grace period must reach TimeoutStopSec: the file is then stale.
  d.orchestrator_extra = "    stop_timeout: 30s\n";
  d.write_config();
  CHECK_THAT(openclawd_with({"service", "status"}, env).out, Catch::Contains("up to date:   no"));
  CHECK_THAT(openclawd_with({"service", "install", "--config", d.config.string()}, env).out, Catch::Contains("updated"));
  CHECK_THAT(contents(h.unit()), Catch::Contains("TimeoutStopSec=50"));  // 30 + 5 + 15

  const auto un = openclawd_with({"service", "uninstall"}, env);
  CHECK(un.exit_code == 0);
  CHECK_FALSE(fs::exists(h.unit()));
  CHECK(openclawd_with({"service", "uninstall"}, env).exit_code == 0);  // again: nothing to do
  CHECK(openclawd_with({"service", "status", "--config", d.config.string()}, env).exit_code == 3);

  // Usage errors.
  CHECK(openclawd_with({"service"}, env).exit_code == 2);
  CHECK(openclawd_with({"service", "frobnicate"}, env).exit_code == 2);
  CHECK(openclawd_with({"service", "status", "--dry-run"}, env).exit_code == 2);
  CHECK(openclawd_with({"service", "status"}, h.env("upstart")).exit_code == 2);
}

TEST_CASE("service: a config that only loads with this shell's variables is refused", "[ops][service]") {
  daemon_setup d;
  d.write_config();
  // Point the orchestrator's model through a variable the service manager will not have.
  auto text = contents(d.config);
  const auto at = text.find(d.orchestrator_model);
  REQUIRE(at != std::string::npos);
  text.replace(at, d.orchestrator_model.size(), "$OPENCLAWD_TEST_MODELS/orchestrator.gguf");
  write_file(d.config, text);
  fake_home h;
  auto env = h.env("none");
  env["OPENCLAWD_TEST_MODELS"] = d.dir.path().string();
  const auto r = openclawd_with({"service", "install", "--config", d.config.string()}, env);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("OPENCLAWD_TEST_MODELS"));
  CHECK_THAT(r.err, Catch::Contains("not installed"));
  CHECK_FALSE(fs::exists(h.unit()));
}

TEST_CASE("service: systemd install and uninstall run systemctl --user in the right order", "[ops][service]") {
  daemon_setup d;
  d.write_config();
  fake_home h;
  const auto env = h.env("systemd");
  const auto in = openclawd_with({"service", "install", "--config", d.config.string()}, env);
  INFO(in.out << in.err);
  REQUIRE(in.exit_code == 0);
  CHECK(fs::exists(h.unit()));
  CHECK(h.actions() == calls{"systemctl --user daemon-reload", "systemctl --user enable openclawd.service",
                             "systemctl --user start openclawd.service"});

  // Unchanged and active: nothing restarts (that would reload both models for nothing).
  CHECK(openclawd_with({"service", "install", "--config", d.config.string()}, env).exit_code == 0);
  CHECK(h.actions() == calls{"systemctl --user daemon-reload", "systemctl --user enable openclawd.service",
                             "systemctl --user start openclawd.service"});
  // Changed and active: restart, so the new file takes effect.
  d.subagent_extra = "    stop_timeout: 7s\n";
  d.write_config();
  CHECK(openclawd_with({"service", "install", "--config", d.config.string()}, env).exit_code == 0);
  CHECK(h.actions() == calls{"systemctl --user daemon-reload", "systemctl --user enable openclawd.service",
                             "systemctl --user restart openclawd.service"});

  const auto un = openclawd_with({"service", "uninstall"}, env);
  INFO(un.out << un.err);
  CHECK(un.exit_code == 0);
  CHECK_FALSE(fs::exists(h.unit()));
  CHECK(h.actions() == calls{"systemctl --user disable --now openclawd.service", "systemctl --user daemon-reload"});
}

TEST_CASE("service: launchd install and uninstall bootstrap and boot out gui/<uid>", "[ops][service]") {
  daemon_setup d;
  d.write_config();
  fake_home h;
  const auto env = h.env("launchd");
  const std::string domain = "gui/" + std::to_string(::getuid());
  const auto in = openclawd_with({"service", "install", "--config", d.config.string()}, env);
  INFO(in.out << in.err);
  REQUIRE(in.exit_code == 0);
  REQUIRE(fs::exists(h.plist()));
  CHECK(h.actions() == calls{"launchctl bootstrap " + domain + " " + h.plist().string()});

  const auto check = run_openclawd({"doctor", "--config", d.config.string()}, deadline_long, env);
  CHECK_THAT(check.out, Catch::Contains(h.plist().string() + " runs this config"));

  // Loaded and unchanged: left alone. Changed: booted out, then bootstrapped again.
  CHECK(openclawd_with({"service", "install", "--config", d.config.string()}, env).exit_code == 0);
  CHECK(h.actions().empty());
  d.orchestrator_extra = "    stop_timeout: 3s\n";
  d.write_config();
  CHECK(openclawd_with({"service", "install", "--config", d.config.string()}, env).exit_code == 0);
  CHECK(h.actions() == calls{"launchctl bootout " + domain + "/com.openclaw.openclawd",
                             "launchctl bootstrap " + domain + " " + h.plist().string()});
  CHECK_THAT(contents(h.plist()), Catch::Contains("<key>ExitTimeOut</key>\n\t<integer>23</integer>"));  // 3+5+15

  const auto un = openclawd_with({"service", "uninstall"}, env);
  CHECK(un.exit_code == 0);
  CHECK_FALSE(fs::exists(h.plist()));
  CHECK(h.actions() == calls{"launchctl bootout " + domain + "/com.openclaw.openclawd"});
}

TEST_CASE("service: install says so when the manager cannot be reached, and keeps the file", "[ops][service]") {
  daemon_setup d;
  d.write_config();
  fake_home h;
  // A systemctl that fails like one without a user session.
  write_file(h.bin / "systemctl", "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n");
  fs::permissions(h.bin / "systemctl", fs::perms::owner_all);
  const auto r = openclawd_with({"service", "install", "--config", d.config.string()}, h.env("systemd"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("Failed to connect to bus"));
  CHECK_THAT(r.err, Catch::Contains("loginctl enable-linger"));
  CHECK(fs::exists(h.unit()));
}

// --- stop under a service manager -------------------------------------------------------------

TEST_CASE("stop: a daemon the service manager runs is stopped through it, and every node is gone",
          "[ops][service][e2e]") {
  const std::string manager = GENERATE("systemd", "launchd");
  INFO("manager: " << manager);
  daemon_setup d;
  d.write_config();
  fake_home h;
  const auto env = h.env(manager, /*spawn=*/true);
  const auto in = openclawd_with({"service", "install", "--config", d.config.string()}, env);
  INFO(in.out << in.err);
  REQUIRE(in.exit_code == 0);

  // The fake started the daemon from the installed file's own command line.
  nlohmann::json j;
  REQUIRE(wait_until([&] {
    j = d.status();
    return j["nodes"]["orchestrator"]["state"] == "ready" && j["nodes"]["subagent"]["state"] == "ready";
  }, deadline_long));
  const int daemon = j["daemon"]["pid"].get<int>();
  CHECK(std::atoi(contents(h.state / "pid").c_str()) == daemon);
  const auto pids = d.recorded_pids();
  const auto st = openclawd_with({"service", "status"}, env);
  CHECK_THAT(st.out, Catch::Contains("running (pid " + std::to_string(daemon) + ") under " + manager));
  h.actions();

  const auto r = openclawd_with({"stop", "--config", d.config.string()}, env);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("openclawd runs under " + manager + ": stopping it there"));
  CHECK_THAT(r.out, Catch::Contains("openclawd stopped"));
  const auto acts = h.actions();
  if (manager == "systemd") CHECK(acts == calls{"systemctl --user stop openclawd.service"});
  else CHECK(acts == calls{"launchctl bootout gui/" + std::to_string(::getuid()) + "/com.openclaw.openclawd"});
  for (pid_t p : pids) CHECK_FALSE(process_alive(p));
  CHECK(d.status()["daemon"]["running"] == false);

  // `service install` starts it again under the manager (docs/operations.md), and
  // `service uninstall` takes the daemon and both nodes down with the service.
  REQUIRE(openclawd_with({"service", "install", "--config", d.config.string()}, env).exit_code == 0);
  REQUIRE(wait_until([&] {
    j = d.status();
    return j["nodes"]["orchestrator"]["state"] == "ready" && j["nodes"]["subagent"]["state"] == "ready";
  }, deadline_long));
  const int again = j["daemon"]["pid"].get<int>();
  CHECK(again != daemon);
  const auto pids2 = d.recorded_pids();
  const auto un = openclawd_with({"service", "uninstall"}, env);
  INFO(un.out << un.err);
  CHECK(un.exit_code == 0);
  CHECK_THAT(un.out, Catch::Contains("openclawd (pid " + std::to_string(again) + ") stopped with the service"));
  for (pid_t p : pids2) CHECK_FALSE(process_alive(p));
}

TEST_CASE("stop: a daemon started by hand is stopped with SIGTERM even with the service installed",
          "[ops][service][e2e]") {
  daemon_setup d;
  d.write_config();
  fake_home h;
  const auto env = h.env("systemd");  // the fake records but runs nothing: the job has no pid
  REQUIRE(openclawd_with({"service", "install", "--config", d.config.string()}, env).exit_code == 0);
  REQUIRE(openclawd_with({"start", "--config", d.config.string()}, env).exit_code == 0);
  const auto pids = d.recorded_pids();
  h.actions();
  const auto r = openclawd_with({"stop", "--config", d.config.string()}, env);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, !Catch::Contains("stopping it there"));
  CHECK_THAT(contents(h.log), Catch::Contains("systemctl --user show"));  // asked whose daemon it is,
  CHECK(h.actions().empty());                                               // but never told to stop
  for (pid_t p : pids) CHECK_FALSE(process_alive(p));
}

TEST_CASE("stop: with no daemon but a respawn pending, the job is stopped in the manager", "[ops][service]") {
  daemon_setup d;
  d.write_config();
  fake_home h;
  const auto install = h.env("systemd");
  REQUIRE(openclawd_with({"service", "install", "--config", d.config.string()}, install).exit_code == 0);
  h.actions();
  // systemd between two attempts of a failing daemon: activating (auto-restart), no pid.
  const auto env = h.env("systemd", false, {{"FAKE_ACTIVE_STATE", "activating"}, {"FAKE_SUB_STATE", "auto-restart"}});
  const auto r = openclawd_with({"stop", "--config", d.config.string()}, env);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("systemd could start openclawd again (activating (auto-restart))"));
  CHECK_THAT(r.out, Catch::Contains("openclawd is not running"));
  CHECK(h.actions() == calls{"systemctl --user stop openclawd.service"});

  // Inactive: nothing to stop, and nothing is asked to.
  const auto idle = openclawd_with({"stop", "--config", d.config.string()}, h.env("systemd"));
  CHECK(idle.exit_code == 0);
  CHECK(h.actions().empty());
}

// --- doctor ----------------------------------------------------------------------------------

TEST_CASE("doctor: a good config passes every check, and a running daemon's ports are its own", "[ops][doctor]") {
  daemon_setup d;
  d.write_config();
  auto j = doctor_json(d.config, 0);
  CHECK(j["ok"] == true);
  CHECK(j["failures"] == 0);
  for (const auto& row : j["checks"]) CHECK(row["verdict"] != "fail");
  CHECK_THAT(doctor_row(j, "llama-server")["detail"].get<std::string>(), Catch::Contains("version "));
  const auto model = doctor_row(j, "orchestrator model")["detail"].get<std::string>();
  CHECK_THAT(model, Catch::Contains("llama, training context 32768, 2 layers, 4 heads (4 KV), embedding 64"));
  CHECK(doctor_row(j, "subagent ctx")["verdict"] == "ok");
  CHECK(doctor_row(j, "orchestrator port")["verdict"] == "ok");
  CHECK(doctor_row(j, "memory")["verdict"] == "ok");
  CHECK(doctor_row(j, "daemon")["detail"] == "not running");
  // The orchestrator keeps its chats' KV in files by default; the row says where, and the cap.
  CHECK_THAT(doctor_row(j, "slot files")["detail"].get<std::string>(),
             Catch::StartsWith("orchestrator: 0 B in ") && Catch::Contains("capped at 8.0 GiB (slot_files_max)"));

  // The table, for people.
  const auto text = run_openclawd({"doctor", "--config", d.config.string()});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::StartsWith("CHECK"));
  CHECK_THAT(text.out, Catch::Matches("(.|\\n)*orchestrator model +OK(.|\\n)*"));
  CHECK_THAT(doctor_row(j, "subagent template")["detail"].get<std::string>(),
             Catch::Contains("asked of the node when it becomes ready"));

  REQUIRE(d.start().exit_code == 0);
  j = doctor_json(d.config, 0);
  // A running node is asked about its chat template now (the tiny models' ChatML).
  CHECK(doctor_row(j, "orchestrator template")["verdict"] == "ok");
  CHECK(doctor_row(j, "orchestrator template")["detail"] == "system role, lenient roles (asked the running node now)");
  CHECK_THAT(doctor_row(j, "orchestrator port")["detail"].get<std::string>(),
             Catch::Contains("held by this openclawd's orchestrator"));
  CHECK(doctor_row(j, "subagent port")["verdict"] == "ok");
  CHECK_THAT(doctor_row(j, "daemon")["detail"].get<std::string>(), Catch::StartsWith("running (pid "));

  // While it runs: the daemon's log, through `logs`.
  const auto logs = run_openclawd({"logs", "--config", d.config.string()});
  CHECK(logs.exit_code == 0);
  CHECK_THAT(logs.out, Catch::Contains("both nodes ready"));
  const auto all = run_openclawd({"logs", "all", "-n", "3", "--config", d.config.string()});
  CHECK_THAT(all.out, Catch::Contains("==> " + (d.state_dir() / "logs" / "orchestrator.log").string() + " <=="));
}

TEST_CASE("doctor: a file that is not GGUF fails (exit 1), with a good fallback it only warns", "[ops][doctor]") {
  daemon_setup d;
  write_file(d.dir / "broken.gguf", "this is not a GGUF file\n");
  const auto good = d.orchestrator_model;
  d.orchestrator_model = (d.dir / "broken.gguf").string();
  d.write_config();
  auto j = doctor_json(d.config, 1);
  CHECK(j["ok"] == false);
  const auto row = doctor_row(j, "orchestrator model");
  CHECK(row["verdict"] == "fail");
  CHECK_THAT(row["detail"].get<std::string>(), Catch::Contains("not a valid GGUF model"));
  CHECK(doctor_row(j, "subagent model")["verdict"] == "ok");

  d.orchestrator_extra = "    fallbacks: [" + good + "]\n";
  d.write_config();
  j = doctor_json(d.config, 0);
  CHECK(doctor_row(j, "orchestrator model")["verdict"] == "warn");
  CHECK_THAT(doctor_row(j, "orchestrator model")["detail"].get<std::string>(), Catch::Contains("would run " + good));
  CHECK(doctor_row(j, "orchestrator fallback 1")["verdict"] == "ok");
  // The memory it would take is the fallback's, with its KV cache, not the broken file's.
  CHECK_THAT(doctor_row(j, "memory")["detail"].get<std::string>(), Catch::StartsWith("orchestrator 2.0 GiB (weights 644.2 KiB + KV 512.0 KiB + prompt cache 2.0 GiB)"));
}

TEST_CASE("doctor: ctx above the model's training context is a warning", "[ops][doctor]") {
  daemon_setup d;
  openclawd::core::tiny_model_options small;
  small.context_length = 256;
  REQUIRE(openclawd::core::write_tiny_model(d.dir / "short.gguf", openclawd::core::tiny_model_kind::random, small));
  d.subagent_model = (d.dir / "short.gguf").string();  // ctx 512 in daemon_setup
  d.write_config();
  const auto j = doctor_json(d.config, 0);
  const auto row = doctor_row(j, "subagent ctx");
  CHECK(row["verdict"] == "warn");
  CHECK_THAT(row["detail"].get<std::string>(), Catch::Contains("ctx 512 exceeds the model's training context 256"));
  CHECK(doctor_row(j, "orchestrator ctx")["verdict"] == "ok");
  CHECK(j["warnings"].get<int>() >= 1);
}

TEST_CASE("doctor: a port used by another program fails (exit 1)", "[ops][doctor]") {
  daemon_setup d;
  d.write_config();
  port_holder other(d.subagent_port);
  const auto j = doctor_json(d.config, 1);
  const auto row = doctor_row(j, "subagent port");
  CHECK(row["verdict"] == "fail");
  CHECK_THAT(row["detail"].get<std::string>(), Catch::Contains("in use by another program"));
  CHECK(doctor_row(j, "orchestrator port")["verdict"] == "ok");
}

TEST_CASE("doctor: config errors name file:line:col (exit 2), a missing llama-server fails (exit 1)",
          "[ops][doctor]") {
  daemon_setup d;
  d.orchestrator_extra = "    ctx_size: 4096\n";  // unknown key
  d.write_config();
  auto j = doctor_json(d.config, 2);
  REQUIRE(j["checks"].size() == 1);
  CHECK(j["checks"][0]["verdict"] == "fail");
  CHECK_THAT(j["checks"][0]["detail"].get<std::string>(), Catch::Contains(d.config.string() + ":"));
  CHECK_THAT(j["checks"][0]["detail"].get<std::string>(), Catch::Contains("ctx_size"));

  d.orchestrator_extra = "    llama_server: " + (d.dir / "no-such-llama-server").string() + "\n";
  d.write_config();
  j = doctor_json(d.config, 1);
  CHECK(doctor_row(j, "config")["verdict"] == "fail");  // start would refuse it
  CHECK_THAT(doctor_row(j, "config")["detail"].get<std::string>(), Catch::Contains("start would refuse it"));
  const auto row = doctor_row(j, "orchestrator llama-server");
  CHECK(row["verdict"] == "fail");
  CHECK_THAT(row["detail"].get<std::string>(), Catch::Contains("does not exist"));
  CHECK(doctor_row(j, "subagent llama-server")["verdict"] == "ok");
}

// --- logs ------------------------------------------------------------------------------------

TEST_CASE("logs: -n prints the last lines, reaching into the rotated file when the current one is short",
          "[ops][logs]") {
  daemon_setup d;
  d.write_config();
  const auto logs = d.state_dir() / "logs";
  fs::create_directories(logs);
  std::string older, current, daemon;
  for (int i = 1; i <= 100; ++i) older += "old " + std::to_string(i) + "\n";
  for (int i = 1; i <= 10; ++i) current += "new " + std::to_string(i) + "\n";
  for (int i = 1; i <= 80; ++i) daemon += "daemon " + std::to_string(i) + "\n";
  write_file(logs / "orchestrator.log.1", older);
  write_file(logs / "orchestrator.log", current);
  write_file(logs / "daemon.log", daemon);
  const auto cfg = d.config.string();

  auto r = run_openclawd({"logs", "orchestrator", "-n", "3", "--config", cfg});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "new 8\nnew 9\nnew 10\n");

  r = run_openclawd({"logs", "orchestrator", "--lines=13", "--config", cfg});
  CHECK(r.out == "old 98\nold 99\nold 100\n" + current);

  // Default: the daemon's log, 50 lines.
  r = run_openclawd({"logs", "--config", cfg});
  std::string last50;
  for (int i = 31; i <= 80; ++i) last50 += "daemon " + std::to_string(i) + "\n";
  CHECK(r.out == last50);

  // A last line without "\n" (being written) counts; a file larger than one read block works.
  std::string big;
  for (int i = 1; i <= 20000; ++i) big += "line " + std::to_string(i) + " " + std::string(20, 'x') + "\n";
  write_file(logs / "subagent.log", big + "partial");
  r = run_openclawd({"logs", "subagent", "-n", "2", "--config", cfg});
  CHECK(r.out == "line 20000 " + std::string(20, 'x') + "\npartial\n");
  r = run_openclawd({"logs", "subagent", "-n", "5000", "--config", cfg});
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 5000);
  CHECK_THAT(r.out, Catch::StartsWith("line 15002 "));

  CHECK(run_openclawd({"logs", "gateway", "--config", cfg}).exit_code == 2);
  CHECK(run_openclawd({"logs", "-n", "many", "--config", cfg}).exit_code == 2);
  fs::remove(logs / "subagent.log");
  const auto missing = run_openclawd({"logs", "subagent", "--config", cfg});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("no log yet"));
}

TEST_CASE("logs: -f follows appended lines across rotation and truncation, and exits on a signal",
          "[ops][logs]") {
  const int sig = GENERATE(SIGTERM, SIGINT);
  daemon_setup d;
  d.write_config();
  const auto logs = d.state_dir() / "logs";
  fs::create_directories(logs);
  const auto log = logs / "orchestrator.log";
  write_file(log, "one\ntwo\nthree\n");
  temp_dir io;
  const pid_t pid = spawn_openclawd({"logs", "orchestrator", "-f", "-n", "2", "--config", d.config.string()},
                                    io / "out", io / "err");
  auto out = [&] { return contents(io / "out"); };
  CHECK(wait_until([&] { return out() == "two\nthree\n"; }));

  auto append = [&](const fs::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::app);
    f << s;
  };
  append(log, "four\n");
  CHECK(wait_until([&] { return out() == "two\nthree\nfour\n"; }));
  append(log, "fi");  // half a line is held back until its end arrives
  append(log, "ve\n");
  CHECK(wait_until([&] { return out() == "two\nthree\nfour\nfive\n"; }));

  // Rotation as rotating_log does it: a last line into the old file, rename, a new file.
  append(log, "six\n");
  fs::rename(log, log.string() + ".1");
  write_file(log, "seven\n");
  CHECK(wait_until([&] { return out().ends_with("five\nsix\nseven\n"); }));

  // Truncation in place (copytruncate). A shrink is what tells it apart from appending,
  // so the new content is shorter than the old, whenever the follower looks.
  fs::resize_file(log, 0);
  append(log, "8\n");
  CHECK(wait_until([&] { return out().ends_with("seven\n8\n"); }));

  REQUIRE(::kill(pid, sig) == 0);
  int status = 0;
  REQUIRE(wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out() == "two\nthree\nfour\nfive\nsix\nseven\n8\n");
  CHECK_THAT(contents(io / "err"), Catch::Contains("was truncated"));
}
