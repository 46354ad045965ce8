// End-to-end tests of `openclawd start|stop|status` against the REAL llama-server with
// tiny generated models (scripts/setup.sh installs it). Each test gets its own state
// directory and ports; waits are condition polls with generous deadlines.
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace openclawd::test;

namespace {

bool nothing_running(daemon_setup& d) {
  const auto j = d.status();
  return j["daemon"]["running"] == false;
}

std::string contents(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("start: both real nodes reach ready, status shows them, stop leaves no child", "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  const auto r = d.start();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("orchestrator ready at http://127.0.0.1:" + std::to_string(d.orchestrator_port)));
  CHECK_THAT(r.out, Catch::Contains("subagent ready at http://127.0.0.1:" + std::to_string(d.subagent_port)));

  const auto j = d.status();
  CHECK(j["daemon"]["running"] == true);
  CHECK(j["daemon"]["pid"].is_number_integer());
  CHECK(j["daemon"]["uptime_s"].is_number_integer());
  for (const std::string node : {"orchestrator", "subagent"}) {
    const auto& n = j["nodes"][node];
    CHECK(n["state"] == "ready");
    CHECK(n["pid"].is_number_integer());
    CHECK(n["restarts"] == 0);
    CHECK(n["last_exit"].is_null());
    CHECK(process_alive(n["pid"].get<int>()));
  }
  CHECK(j["nodes"]["orchestrator"]["port"] == d.orchestrator_port);
  CHECK(j["nodes"]["orchestrator"]["model"] == d.orchestrator_model);

  // The text table too.
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("openclawd is running"));
  CHECK_THAT(text.out, Catch::Contains("orchestrator"));

  // Per-node logs hold the real server's output.
  CHECK_THAT(contents(d.state_dir() / "logs" / "orchestrator.log"), Catch::Contains("llama-server"));

  const auto pids = d.recorded_pids();
  const auto s = d.stop();
  INFO("stop: " << s.out << s.err);
  CHECK(s.exit_code == 0);
  CHECK_THAT(s.out, Catch::Contains("openclawd stopped"));
  for (pid_t p : pids) CHECK_FALSE(process_alive(p));

  const auto down = run_openclawd({"status", "--json", "--config", d.config.string()});
  CHECK(down.exit_code == 3);
  const auto dj = nlohmann::json::parse(down.out);
  CHECK(dj["daemon"]["running"] == false);
  CHECK(dj["nodes"]["subagent"]["state"] == "stopped");
  CHECK(dj["nodes"]["subagent"]["pid"].is_null());

  // Stopping again is not an error.
  CHECK(d.stop().exit_code == 0);
}

TEST_CASE("start: a second start says already running and exits 0", "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto pid = d.status()["daemon"]["pid"].get<int>();
  const auto again = d.start();
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("already running (pid " + std::to_string(pid) + ")"));
  CHECK(d.status()["daemon"]["pid"] == pid);
}

TEST_CASE("supervision: SIGKILL of a node brings it back to ready with restarts 1 and a new pid",
          "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto old_pid = d.node_pid("orchestrator");
  REQUIRE(old_pid);
  REQUIRE(::kill(*old_pid, SIGKILL) == 0);

  nlohmann::json j;
  REQUIRE(wait_until([&] {
    j = d.status();
    const auto& n = j["nodes"]["orchestrator"];
    return n["state"] == "ready" && n["restarts"] == 1 && n["pid"].is_number_integer() && n["pid"] != *old_pid;
  }));
  CHECK(j["nodes"]["orchestrator"]["last_exit"]["signal"] == "SIGKILL");
  CHECK(j["nodes"]["orchestrator"]["last_exit"]["reason"] == "exited unexpectedly");
  CHECK(j["nodes"]["subagent"]["restarts"] == 0);  // the other node was left alone
  CHECK_FALSE(process_alive(*old_pid));
}

TEST_CASE("supervision: a SIGSTOPped node is detected by liveness and restarted", "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto old_pid = d.node_pid("subagent");
  REQUIRE(old_pid);
  REQUIRE(::kill(*old_pid, SIGSTOP) == 0);

  nlohmann::json j;
  REQUIRE(wait_until([&] {
    j = d.status();
    const auto& n = j["nodes"]["subagent"];
    return n["state"] == "ready" && n["restarts"] == 1 && n["pid"] != *old_pid;
  }));
  CHECK_THAT(j["nodes"]["subagent"]["last_exit"]["reason"].get<std::string>(), Catch::Contains("liveness"));
  CHECK(wait_until([&] { return !process_alive(*old_pid); }));
}

TEST_CASE("config: a missing model is a clear error, exit 2, and nothing is started", "[supervisor][e2e]") {
  daemon_setup d;
  d.orchestrator_model = (d.dir / "no-such-model.gguf").string();
  d.write_config();
  const auto r = d.start();
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(d.config.string() + ":"));
  CHECK_THAT(r.err, Catch::Contains("nodes.orchestrator.model"));
  CHECK_THAT(r.err, Catch::Contains("no-such-model.gguf"));
  CHECK(nothing_running(d));
  CHECK_FALSE(std::filesystem::exists(d.state_dir() / "openclawd.pid"));
}

TEST_CASE("preflight: a port taken by another program is a clear error naming port and node",
          "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  // Another program listening on the subagent's port.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(d.subagent_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);

  const auto r = d.start();
  ::close(fd);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("port " + std::to_string(d.subagent_port) + " of node subagent"));
  CHECK_THAT(r.err, Catch::Contains("already in use"));
  CHECK(nothing_running(d));
}

TEST_CASE("start: a model that cannot load fails the start with its exit status and log", "[supervisor][e2e]") {
  daemon_setup d;
  {
    std::ofstream bad(d.dir / "broken.gguf");
    bad << "this is not a GGUF file\n";
  }
  d.orchestrator_model = (d.dir / "broken.gguf").string();
  d.write_config();
  const auto r = d.start();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("node orchestrator failed to start"));
  CHECK_THAT(r.err, Catch::Contains("exited with code 1"));
  CHECK_THAT(r.err, Catch::Contains("broken.gguf"));
  CHECK_THAT(r.err, Catch::Contains("nothing is left running"));
  CHECK(nothing_running(d));
  for (pid_t p : d.recorded_pids()) CHECK_FALSE(process_alive(p));
}

TEST_CASE("fallback: a broken primary export falls back to the next quantized export", "[supervisor][e2e]") {
  daemon_setup d;
  {
    std::ofstream bad(d.dir / "broken.gguf");
    bad << "GGUF but truncated";
  }
  const auto good = d.orchestrator_model;
  d.orchestrator_model = (d.dir / "broken.gguf").string();
  d.orchestrator_extra = "    fallbacks: [" + good + "]\n";
  d.write_config();
  const auto r = d.start();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = d.status();
  CHECK(j["nodes"]["orchestrator"]["state"] == "ready");
  CHECK(j["nodes"]["orchestrator"]["model"] == good);
  CHECK(j["nodes"]["orchestrator"]["model_index"] == 1);
  CHECK(j["nodes"]["orchestrator"]["last_exit"]["code"] == 1);
}

TEST_CASE("supervision: a crash loop ends in the failed state instead of looping", "[supervisor][e2e]") {
  daemon_setup d;
  d.top_extra = "  max_failures: 3\n";  // appended under restart:
  d.write_config();
  REQUIRE(d.start().exit_code == 0);

  // Crash the subagent each time it comes back, as a model that dies under load would.
  for (int crash = 1; crash <= 3; ++crash) {
    std::optional<int> pid;
    REQUIRE(wait_until([&] {
      const auto j = d.status();
      const auto& n = j["nodes"]["subagent"];
      if (n["state"] != "ready" || n["restarts"] != crash - 1) return false;
      pid = n["pid"].get<int>();
      return true;
    }));
    REQUIRE(::kill(*pid, SIGKILL) == 0);
  }
  nlohmann::json j;
  REQUIRE(wait_until([&] {
    j = d.status();
    return j["nodes"]["subagent"]["state"] == "failed";
  }));
  CHECK(j["nodes"]["subagent"]["pid"].is_null());
  CHECK_THAT(j["nodes"]["subagent"]["error"].get<std::string>(), Catch::Contains("subagent exited unexpectedly"));
  // The daemon and the other node keep running: the failure is visible, not fatal.
  CHECK(j["daemon"]["running"] == true);
  CHECK(j["nodes"]["orchestrator"]["state"] == "ready");
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("subagent: failed:"));

  // `start` on the running daemon gives the failed node another chance.
  const auto again = d.start();
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("retry the failed node(s): subagent"));
  CHECK(wait_until([&] { return d.node_state("subagent") == "ready"; }));
}

TEST_CASE("stop: a child that ignores SIGTERM is killed after stop_timeout and reaped", "[supervisor][e2e]") {
  daemon_setup d;
  d.subagent_extra = "    llama_server: " + test_child_bin().string() +
                     "\n    extra_args: [--ignore-sigterm]\n    stop_timeout: 500ms\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto pid = d.node_pid("subagent");
  REQUIRE(pid);
  const auto r = d.stop();
  CHECK(r.exit_code == 0);
  CHECK_FALSE(process_alive(*pid));
  CHECK_THAT(contents(d.state_dir() / "logs" / "daemon.log"), Catch::Contains("sending SIGKILL"));
  CHECK(d.status()["nodes"]["subagent"]["last_exit"]["signal"] == "SIGKILL");
}

TEST_CASE("start: a node that never becomes ready fails after startup_timeout", "[supervisor][e2e]") {
  daemon_setup d;
  d.subagent_extra = "    llama_server: " + test_child_bin().string() +
                     "\n    extra_args: [--never-ready]\n    startup_timeout: 1s\n";
  d.write_config();
  const auto r = d.start();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("node subagent failed to start"));
  CHECK_THAT(r.err, Catch::Contains("not ready within startup_timeout"));
  CHECK(nothing_running(d));
  for (pid_t p : d.recorded_pids()) CHECK_FALSE(process_alive(p));
}

TEST_CASE("orphans: after SIGKILL of the daemon the next start leaves no orphan", "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  // Without the parent-death signal the children outlive the daemon, as on macOS: the
  // next start must find them through state.json and stop them.
  const bool pdeathsig = GENERATE(true, false);
  std::map<std::string, std::string> env;
  if (!pdeathsig) env["OPENCLAWD_NO_PDEATHSIG"] = "1";
  INFO("parent death signal: " << pdeathsig);

  REQUIRE(d.start(env).exit_code == 0);
  const auto j = d.status();
  const int daemon = j["daemon"]["pid"].get<int>();
  const int orch = j["nodes"]["orchestrator"]["pid"].get<int>();
  const int sub = j["nodes"]["subagent"]["pid"].get<int>();
  REQUIRE(::kill(daemon, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return !process_alive(daemon); }));

  if (pdeathsig) {
    CHECK(wait_until([&] { return !process_alive(orch) && !process_alive(sub); }));
  } else {
    CHECK(process_alive(orch));
    const auto st = run_openclawd({"status", "--config", d.config.string()});
    CHECK(st.exit_code == 3);
    CHECK_THAT(st.out, Catch::Contains("still running without its daemon"));
  }

  const auto r = d.start(env);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  if (!pdeathsig) CHECK_THAT(r.err, Catch::Contains("left running by a daemon that did not exit cleanly"));
  CHECK_FALSE(process_alive(orch));
  CHECK_FALSE(process_alive(sub));
  const auto after = d.status();
  CHECK(after["nodes"]["orchestrator"]["pid"] != orch);
  CHECK(after["nodes"]["orchestrator"]["state"] == "ready");
}

TEST_CASE("foreground: SIGTERM stops both nodes and exits 0", "[supervisor][e2e]") {
  daemon_setup d;
  d.write_config();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    const std::string bin = openclawd_bin().string(), cfg = d.config.string();
    ::execl(bin.c_str(), bin.c_str(), "start", "--foreground", "--config", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  REQUIRE(wait_until([&] {
    const auto j = d.status();
    return j["nodes"]["orchestrator"]["state"] == "ready" && j["nodes"]["subagent"]["state"] == "ready";
  }));
  const auto pids = d.recorded_pids();
  CHECK(d.status()["daemon"]["pid"] == pid);
  REQUIRE(::kill(pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (pid_t p : pids) CHECK_FALSE(process_alive(p));
}

TEST_CASE("cli: help for every command, usage errors exit 2, config found through $OPENCLAWD_CONFIG",
          "[supervisor][cli]") {
  for (const std::string cmd : {"start", "stop", "status"}) {
    const auto h = run_openclawd({cmd, "--help"});
    CHECK(h.exit_code == 0);
    CHECK_THAT(h.out, Catch::Contains("usage: openclawd " + cmd));
  }
  CHECK(run_openclawd({"help"}).exit_code == 0);
  CHECK_THAT(run_openclawd({"--version"}).out, Catch::Contains("openclawd "));
  const auto bad = run_openclawd({"frobnicate"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("unknown command 'frobnicate'"));
  const auto bad_opt = run_openclawd({"status", "--foreground"});
  CHECK(bad_opt.exit_code == 2);

  daemon_setup d;
  d.write_config();
  const auto via_env = run_openclawd({"status", "--json"}, deadline_short, {{"OPENCLAWD_CONFIG", d.config.string()}});
  CHECK(via_env.exit_code == 3);
  CHECK_THAT(via_env.out, Catch::Contains(d.config.string()));

  const auto missing = run_openclawd({"status"}, deadline_short,
                                     {{"OPENCLAWD_CONFIG", (d.dir / "nope.yaml").string()}});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("nope.yaml"));
}
