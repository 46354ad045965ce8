// Unit tests of the service files and the service-manager logic (app/service.hpp): template
// filling, XML and systemd quoting, the plist read back by Python's plistlib, the unit checked
// by `systemd-analyze verify`, the managers' answers parsed, the stop-route decision, and the
// helper-program runner. No daemon; python3 and systemd-analyze are skipped with a warning
// when the machine lacks them.
#include "app/run_program.hpp"
#include "app/service.hpp"
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>

#include <unistd.h>

using namespace openclawd;
using namespace openclawd::app;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Paths with every character the renderers must treat with care.
const fs::path tricky_config = "/tmp/my models & \"notes\"/it's <50%> $HOME/openclawd.yaml";
const fs::path tricky_log = "/tmp/state dir %h/logs/daemon.log";

service_spec sample_spec() {
  service_spec s;
  s.program = openclawd::test::openclawd_bin();
  s.config = tricky_config;
  s.log_file = tricky_log;
  s.path_env = "/opt/llama %b/bin:/usr/local/bin:/usr/bin:/bin";
  s.extra_env["XDG_STATE_HOME"] = "/home/u/.state \"x\"";
  s.stop_timeout = 35s;
  s.restart_delay = 10s;
  return s;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

bool have_program(const std::string& name) {
  const auto r = run_program({"sh", "-c", "command -v " + name}, 10s);
  return r.ok();
}

core::config two_nodes(std::chrono::milliseconds a, std::chrono::milliseconds b) {
  core::config cfg;
  cfg.nodes.resize(2);
  cfg.nodes[0].name = "orchestrator";
  cfg.nodes[0].stop_timeout = a;
  cfg.nodes[0].llama_server = "/opt/homebrew/bin/llama-server";
  cfg.nodes[1].name = "subagent";
  cfg.nodes[1].stop_timeout = b;
  cfg.nodes[1].llama_server = "/opt/cuda/bin/llama-server";
  return cfg;
}

}  // namespace

TEST_CASE("service: fill_template fills each placeholder once and names a missing one", "[ops][service]") {
  CHECK(fill_template("a @X@ b @Y@", {{"X", "1"}, {"Y", "@X@"}}) == "a 1 b @X@");  // values are not rescanned
  CHECK(fill_template("mail me@host and @ alone", {}) == "mail me@host and @ alone");
  CHECK(fill_template("@X@@X@", {{"X", "z"}}) == "zz");
  CHECK_THROWS_WITH(fill_template("@NOPE@", {}), Catch::Contains("@NOPE@"));
}

TEST_CASE("service: XML escaping and systemd quoting", "[ops][service]") {
  CHECK(xml_escape("a&b<c>\"d'e") == "a&amp;b&lt;c&gt;&quot;d&apos;e");
  CHECK_THROWS_AS(xml_escape("line\nbreak"), render_error);
  CHECK(systemd_quote("/a b/c") == "\"/a b/c\"");
  CHECK(systemd_quote("x\\y\"z") == "\"x\\\\y\\\"z\"");
  CHECK(systemd_quote("50% $HOME") == "\"50%% $$HOME\"");
  CHECK(systemd_quote("/p%q/$x", /*is_program=*/true) == "\"/p%%q/$x\"");  // systemd never expands $ there
  CHECK(systemd_escape_specifiers("/a%h b") == "/a%%h b");
  CHECK_THROWS_AS(systemd_quote("a\nb"), render_error);
}

TEST_CASE("service: stop timeout is above the sum of the grace periods, PATH starts with llama-server's folders",
          "[ops][service]") {
  CHECK(service_stop_timeout(two_nodes(10s, 10s)) == 35s);
  CHECK(service_stop_timeout(two_nodes(500ms, 1200ms)) == 17s);  // 1.7 s rounds up to 2
  const auto path = service_path_env(two_nodes(1s, 1s));
  CHECK(path.rfind("/opt/homebrew/bin:/opt/cuda/bin:", 0) == 0);
  CHECK_THAT(path, Catch::Contains("/usr/bin"));
}

TEST_CASE("service: the LaunchAgent plist parses with plistlib and carries the expected keys", "[ops][service]") {
  if (!have_program("python3")) {
    WARN("python3 is not installed: the plist was not checked with plistlib");
    return;
  }
  const auto spec = sample_spec();
  const auto text = render_launchd_plist(spec);
  openclawd::test::temp_dir dir;
  write_file(dir / "com.openclaw.openclawd.plist", text);
  const auto r = run_program({"python3", "-c",
                              "import json, plistlib, sys\n"
                              "with open(sys.argv[1], 'rb') as f: print(json.dumps(plistlib.load(f)))\n",
                              (dir / "com.openclaw.openclawd.plist").string()},
                             30s);
  INFO(text << "\n" << r.output);
  REQUIRE(r.ok());
  const auto j = nlohmann::json::parse(r.output);
  CHECK(j["Label"] == "com.openclaw.openclawd");
  CHECK(j["ProgramArguments"] == nlohmann::json::array({spec.program.string(), "start", "--foreground", "--config",
                                                        tricky_config.string()}));
  CHECK(j["RunAtLoad"] == true);
  CHECK(j["KeepAlive"] == nlohmann::json({{"SuccessfulExit", false}}));
  CHECK(j["ThrottleInterval"] == 10);
  CHECK(j["ExitTimeOut"] == 35);
  CHECK(j["ProcessType"] == "Interactive");
  CHECK(j["StandardOutPath"] == tricky_log.string());
  CHECK(j["StandardErrorPath"] == tricky_log.string());
  CHECK(j["EnvironmentVariables"]["PATH"] == spec.path_env);
  CHECK(j["EnvironmentVariables"]["XDG_STATE_HOME"] == "/home/u/.state \"x\"");
  // The path read back from the file is the one written.
  CHECK(config_in_service_text(text, service_manager::launchd) == tricky_config);
}

TEST_CASE("service: the systemd unit passes systemd-analyze verify", "[ops][service]") {
  if (!have_program("systemd-analyze")) {
    WARN("systemd-analyze is not installed: the unit was not verified");
    return;
  }
  openclawd::test::temp_dir dir;
  auto verify = [&](const service_spec& spec) {
    const auto text = render_systemd_unit(spec);
    // verify needs the file to carry the unit's name; it checks that ExecStart's program
    // exists and is executable, so a quoting mistake in the program path shows up too.
    write_file(dir / "openclawd.service", text);
    const auto r = run_program({"systemd-analyze", "verify", (dir / "openclawd.service").string()}, 60s);
    INFO(text << "\n--- systemd-analyze verify:\n" << r.output);
    CHECK(r.ok());
    // It only warns (exit 0) about a setting it ignores: no line may name our unit.
    CHECK_THAT(r.output, !Catch::Contains("openclawd.service"));
    CHECK(config_in_service_text(text, service_manager::systemd) == spec.config);
    CHECK_THAT(text, Catch::Contains("Restart=on-failure"));
    CHECK_THAT(text, Catch::Contains("KillMode=mixed"));
    CHECK_THAT(text, Catch::Contains("TimeoutStopSec=35"));
    CHECK_THAT(text, Catch::Contains("\nType=exec\n"));  // not forking: the manager supervises the daemon itself
  };
  verify(sample_spec());

  // The program itself in a folder whose name needs quoting (space, %, $).
  const auto odd = dir / "bin dir 50% $x";
  fs::create_directories(odd);
  fs::copy_file(openclawd::test::openclawd_bin(), odd / "openclawd");
  auto spec = sample_spec();
  spec.program = odd / "openclawd";
  verify(spec);
}

TEST_CASE("service: the managers' answers are parsed", "[ops][service]") {
  const std::string running =
      "gui/501/com.openclaw.openclawd = {\n"
      "\tactive count = 1\n"
      "\tpath = /Users/u/Library/LaunchAgents/com.openclaw.openclawd.plist\n"
      "\tstate = running\n"
      "\targuments = {\n"
      "\t\tpid = 1\n"
      "\t}\n"
      "\tpid = 4242\n"
      "\tlast exit code = (never exited)\n"
      "}\n";
  auto j = parse_launchctl_print(0, running);
  CHECK(j.answered);
  CHECK(j.loaded);
  CHECK(j.pid == 4242);  // not the nested block's "pid = 1"
  CHECK_THAT(j.summary, Catch::Contains("running"));

  j = parse_launchctl_print(0, "gui/501/com.openclaw.openclawd = {\n\tstate = not running\n}\n");
  CHECK((j.loaded && !j.pid));
  j = parse_launchctl_print(113, "Could not find service \"com.openclaw.openclawd\" in domain for user gui: 501\n");
  CHECK((j.answered && !j.loaded));
  j = parse_launchctl_print(125, "Domain does not support specified action\n");
  CHECK_FALSE(j.answered);

  j = parse_systemctl_show("LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=77\n");
  CHECK((j.answered && j.loaded && j.pid == 77));
  j = parse_systemctl_show("LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nMainPID=0\n");
  CHECK((j.loaded && !j.pid));  // between two respawns
  j = parse_systemctl_show("LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\n");
  CHECK_FALSE(j.loaded);
  j = parse_systemctl_show("LoadState=not-found\nActiveState=inactive\nMainPID=0\n");
  CHECK_FALSE(j.loaded);
}

TEST_CASE("service: stop goes through the manager only when the daemon is its job", "[ops][service]") {
  job_state runs_42;
  runs_42.answered = true;
  runs_42.loaded = true;
  runs_42.pid = 42;
  job_state pending;  // loaded, waiting to respawn
  pending.answered = true;
  pending.loaded = true;
  job_state idle;
  idle.answered = true;
  job_state unknown;  // the manager could not be asked

  CHECK(choose_stop_route(true, runs_42, 42) == stop_route::manager);
  CHECK(choose_stop_route(true, runs_42, 43) == stop_route::signal);  // started by hand, or another config
  CHECK(choose_stop_route(false, runs_42, 42) == stop_route::signal);  // no service file: not ours to ask
  CHECK(choose_stop_route(true, unknown, 42) == stop_route::signal);
  CHECK(choose_stop_route(true, pending, 42) == stop_route::signal);
  CHECK(choose_stop_route(true, pending, std::nullopt) == stop_route::manager);  // would respawn otherwise
  CHECK(choose_stop_route(true, idle, std::nullopt) == stop_route::signal);
  CHECK(choose_stop_route(true, runs_42, std::nullopt) == stop_route::manager);
}

TEST_CASE("run_program: output, exit code, a missing program and the deadline", "[ops]") {
  auto r = run_program({"sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  CHECK(r.started);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.output, Catch::Contains("out") && Catch::Contains("err"));
  CHECK_THAT(r.describe(), Catch::Contains("exited with code 3: out"));

  r = run_program({"openclawd-no-such-program"}, 10s);
  CHECK_FALSE(r.started);
  CHECK_THAT(r.describe(), Catch::Contains("not found on PATH"));

  const auto t0 = std::chrono::steady_clock::now();
  r = run_program({"sh", "-c", "sleep 30 & sleep 30"}, 300ms);
  CHECK(r.timed_out);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);

  // A program that leaves something running with its output pipe (a daemon started by a
  // service manager) must not keep us waiting for that pipe to close.
  const auto t1 = std::chrono::steady_clock::now();
  r = run_program({"sh", "-c", "sleep 20 & echo $!"}, 15s);
  CHECK(r.ok());
  CHECK(std::chrono::steady_clock::now() - t1 < 10s);
  if (const int pid = std::atoi(r.output.c_str()); pid > 1) ::kill(pid, SIGKILL);
}
