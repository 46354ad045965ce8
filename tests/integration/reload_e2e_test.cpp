// Reloading the configuration of a running daemon (`openclawd reload`, SIGHUP), and `url:`
// nodes (servers openclawd health-checks but does not run), end to end: the real `openclawd`
// binary and the real llama-server with tiny models.
#include "tests/support/harness.hpp"
#include "tests/support/llama_process.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/stat.h>
#include <sys/wait.h>

using namespace openclawd::test;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void replace_in_file(const std::filesystem::path& p, const std::string& from, const std::string& to) {
  std::string text = read_file(p);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  std::ofstream(p) << text;
}

int daemon_pid(daemon_setup& d) { return d.status()["daemon"]["pid"].get<int>(); }

// state.json as the daemon wrote it: `status` itself refuses an invalid config file.
nlohmann::json recorded_state(daemon_setup& d) {
  auto j = nlohmann::json::parse(read_file(d.state_dir() / "state.json"), nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

nlohmann::json last_reload(daemon_setup& d) { return d.status()["last_reload"]; }

// Reaps a background `openclawd` and returns its exit code, or -1 if it is still running
// at the deadline.
int wait_exit(pid_t pid, std::chrono::steady_clock::duration deadline = deadline_long) {
  int status = 0;
  if (!wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, deadline)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Asks the orchestrator for /health until told to stop; counts what did not answer 200.
struct health_watch {
  explicit health_watch(int port)
      : thread([this, port] {
          while (!done) {
            ++probes;
            if (http_status(port, "/health") != 200) ++failures;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
          }
        }) {}
  ~health_watch() { stop(); }
  void stop() {
    done = true;
    if (thread.joinable()) thread.join();
  }
  std::atomic<bool> done{false};
  std::atomic<int> probes{0}, failures{0};
  std::thread thread;
};

}  // namespace

TEST_CASE("reload: a new subagent model restarts only the subagent", "[reload][e2e]") {
  daemon_setup d;
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto orchestrator = d.node_pid("orchestrator");
  const auto subagent = d.node_pid("subagent");
  REQUIRE(orchestrator);
  REQUIRE(subagent);

  const auto next = make_model(d.dir / "subagent-v2.gguf", "random", 7);
  d.subagent_model = next.string();
  d.write_config();
  health_watch orchestrator_health(d.orchestrator_port);
  const auto r = run_openclawd({"reload", "--config", d.config.string()});
  orchestrator_health.stop();
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("reload ok: subagent restarted (model: subagent.gguf → subagent-v2.gguf)"));
  CHECK_THAT(r.out, Catch::Contains("orchestrator: ready, pid " + std::to_string(*orchestrator)));

  const auto j = d.status();
  CHECK(j["nodes"]["orchestrator"]["pid"] == *orchestrator);  // untouched: same process
  CHECK(j["nodes"]["subagent"]["state"] == "ready");
  CHECK(j["nodes"]["subagent"]["model"] == next.string());
  CHECK(j["nodes"]["subagent"]["pid"] != *subagent);
  CHECK_FALSE(process_alive(*subagent));
  const auto& rec = j["last_reload"];
  CHECK(rec["outcome"] == "ok");
  REQUIRE(rec["nodes"].size() == 1);
  CHECK(rec["nodes"][0]["node"] == "subagent");
  CHECK(rec["nodes"][0]["result"] == "restarted");
  // The other node answered all along.
  CHECK(orchestrator_health.probes > 0);
  CHECK(orchestrator_health.failures == 0);
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("last reload "));
  CHECK_THAT(text.out, Catch::Contains(": reload ok: subagent restarted"));
}

TEST_CASE("reload: an unchanged file restarts nothing, other sections say when they apply", "[reload][e2e]") {
  daemon_setup d;
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto before = d.status();

  const auto same = run_openclawd({"reload", "--config", d.config.string()});
  INFO(same.out << same.err);
  CHECK(same.exit_code == 0);
  CHECK_THAT(same.out, Catch::Contains("reload ok: no command line changed, no node restarted"));

  // Live: health and a node's fallbacks. At the next start: pipeline and search.
  replace_in_file(d.config, "  interval: 200ms\n", "  interval: 300ms\n");
  replace_in_file(d.config, "search:\n  enabled: false\n", "search:\n  enabled: false\n  max_results: 3\n"
                                                           "pipeline:\n  answer_max_tokens: 64\n");
  const auto fallback = make_model(d.dir / "subagent-fallback.gguf", "random", 9);
  replace_in_file(d.config, "    ctx: 512\n", "    ctx: 512\n    fallbacks: [" + fallback.string() + "]\n");
  const auto edited = run_openclawd({"reload", "--config", d.config.string()});
  INFO(edited.out << edited.err);
  CHECK(edited.exit_code == 0);
  CHECK_THAT(edited.out, Catch::Contains("no node restarted"));
  CHECK_THAT(edited.out, Catch::Contains("applied now: health, nodes.subagent.fallbacks"));
  CHECK_THAT(edited.out, Catch::Contains("takes effect at the next start (openclawd stop, then start): search, pipeline"));

  const auto after = d.status();
  for (const std::string node : {"orchestrator", "subagent"}) {
    CHECK(after["nodes"][node]["pid"] == before["nodes"][node]["pid"]);
    CHECK(after["nodes"][node]["restarts"] == 0);
  }
  CHECK(after["last_reload"]["deferred"] == nlohmann::json::array({"search", "pipeline"}));
  // Still not applied, so named again by the next reload.
  const auto again = run_openclawd({"reload", "--config", d.config.string()});
  CHECK_THAT(again.out, Catch::Contains("search, pipeline"));
}

TEST_CASE("reload: an invalid file changes nothing and names its line and column", "[reload][e2e]") {
  daemon_setup d;
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto before = d.status();
  const int daemon = daemon_pid(d);

  replace_in_file(d.config, "    ctx: 512\n", "    ctx: -512\n");
  const auto r = run_openclawd({"reload", "--config", d.config.string()});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(d.config.string() + ":14:10: nodes.subagent.ctx: expected a positive integer"));
  CHECK(r.out.empty());
  CHECK(recorded_state(d)["last_reload"].is_null());  // the daemon was not even asked

  // SIGHUP with the same file: the daemon validates again and records the rejection.
  REQUIRE(::kill(daemon, SIGHUP) == 0);
  REQUIRE(wait_until([&] { return recorded_state(d)["last_reload"]["outcome"] == "rejected"; }));
  const auto after = recorded_state(d);
  CHECK_THAT(after["last_reload"]["reason"].get<std::string>(), Catch::Contains(":14:10: nodes.subagent.ctx"));
  for (const std::string node : {"orchestrator", "subagent"}) {
    CHECK(after["nodes"][node]["pid"] == before["nodes"][node]["pid"]);
    CHECK(after["nodes"][node]["state"] == "ready");
  }
  replace_in_file(d.config, "    ctx: -512\n", "    ctx: 512\n");
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("reload rejected, nothing changed: "));
}

TEST_CASE("reload: a new model that is not a GGUF file is rolled back, and status says why", "[reload][e2e]") {
  daemon_setup d;
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto orchestrator = d.node_pid("orchestrator");
  const auto old_model = d.subagent_model;

  const auto broken = d.dir / "subagent-broken.gguf";
  std::ofstream(broken) << "this is not a GGUF file\n";
  d.subagent_model = broken.string();
  d.write_config();
  const auto r = run_openclawd({"reload", "--config", d.config.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("reload rolled back: subagent back on its previous settings (model: "
                                    "subagent.gguf → subagent-broken.gguf did not become ready)"));
  CHECK_THAT(r.err, Catch::Contains("exited while starting"));

  const auto j = d.status();
  const auto& sub = j["nodes"]["subagent"];
  CHECK(sub["state"] == "ready");
  CHECK(sub["model"] == old_model);
  CHECK(j["nodes"]["orchestrator"]["pid"] == *orchestrator);
  const auto& rec = j["last_reload"];
  CHECK(rec["outcome"] == "rolled_back");
  CHECK(rec["nodes"][0]["result"] == "rolled_back");
  CHECK_THAT(rec["reason"].get<std::string>(), Catch::StartsWith("subagent exited while starting"));
  CHECK_THAT(rec["reason"].get<std::string>(), Catch::Contains(broken.string()));
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("reload rolled back: subagent back on its previous settings"));
  CHECK_THAT(text.out, Catch::Contains("why: subagent exited while starting"));

  // The file still names the broken model: a second reload tries it again, and rolls back again.
  const auto again = run_openclawd({"reload", "--config", d.config.string()});
  CHECK(again.exit_code == 1);
  CHECK(d.node_state("subagent") == "ready");
}

TEST_CASE("reload: SIGHUP to the daemon works like the reload command", "[reload][e2e]") {
  daemon_setup d;
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto orchestrator = d.node_pid("orchestrator");
  const auto next = make_model(d.dir / "subagent-sighup.gguf", "random", 5);
  d.subagent_model = next.string();
  d.write_config();
  REQUIRE(::kill(daemon_pid(d), SIGHUP) == 0);
  REQUIRE(wait_until([&] { return last_reload(d)["outcome"] == "ok"; }, deadline_long));
  const auto j = d.status();
  CHECK(j["nodes"]["subagent"]["model"] == next.string());
  CHECK(j["nodes"]["subagent"]["state"] == "ready");
  CHECK(j["nodes"]["orchestrator"]["pid"] == *orchestrator);
}

TEST_CASE("reload: a message sent while the subagent restarts waits for it and is answered", "[reload][e2e][chat]") {
  daemon_setup d;
  d.orchestrator_model = make_model(d.dir / "orchestrator-hello.gguf", "hello").string();
  d.subagent_model = make_model(d.dir / "subagent-hello.gguf", "hello").string();
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto old_subagent = d.node_pid("subagent");

  // The new subagent's program waits for a file before it becomes llama-server: the test
  // decides when the restart ends, so the message surely arrives in the middle of it.
  const auto gate = d.dir / "gated-llama-server";
  const auto go = d.dir / "go";
  std::ofstream(gate) << "#!/bin/sh\nwhile [ ! -e '" << go.string() << "' ]; do sleep 0.02; done\nexec '"
                      << llama_server_bin().string() << "' \"$@\"\n";
  ::chmod(gate.c_str(), 0755);
  d.subagent_model = make_model(d.dir / "subagent-hello-v2.gguf", "hello", 2).string();
  d.subagent_extra = "    llama_server: " + gate.string() + "\n";
  d.write_config();

  const auto reload = spawn_openclawd({"reload", "--config", d.config.string()}, d.dir / "reload.out", d.dir / "reload.err");
  REQUIRE(wait_until([&] {
    const auto j = d.status();
    const auto& sub = j["nodes"]["subagent"];
    return sub["state"] == "starting" && sub["pid"].is_number_integer() && sub["pid"] != *old_subagent;
  }));
  const auto chat = spawn_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"}, d.dir / "chat.out",
                                    d.dir / "chat.err");
  // The pipeline has reached the subagent and found it restarting.
  const auto daemon_log = d.state_dir() / "logs" / "daemon.log";
  REQUIRE(wait_until([&] {
    const auto log = read_file(daemon_log);
    return log.find("subagent: cannot count tokens") != std::string::npos ||
           log.find("pipeline: subagent: not_ready") != std::string::npos;
  }));
  CHECK(process_alive(chat));  // not answered, not failed: waiting
  std::ofstream(go) << "go\n";

  CHECK(wait_exit(reload) == 0);
  CHECK_THAT(read_file(d.dir / "reload.out"), Catch::Contains("reload ok: subagent restarted"));
  CHECK(wait_exit(chat) == 0);
  INFO(read_file(d.dir / "chat.err"));
  CHECK(read_file(d.dir / "chat.out") == "Hello, world!\n");
  CHECK(d.status()["nodes"]["subagent"]["model"] == d.subagent_model);
}

TEST_CASE("url: a node on a server the test runs is checked, used, and left running", "[url][e2e]") {
  daemon_setup d;
  const auto hello = make_model(d.dir / "remote-hello.gguf", "hello");
  llama_process remote(hello, 512);
  d.orchestrator_model = make_model(d.dir / "orchestrator-hello.gguf", "hello").string();
  d.write_config();
  // The subagent is the test's own llama-server: url: instead of model:, port:, threads: ...
  std::string yaml = read_file(d.config);
  const auto from = yaml.find("  subagent:\n");
  const auto to = yaml.find("health:\n");
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  yaml.replace(from, to - from,
               "  subagent:\n    url: http://127.0.0.1:" + std::to_string(remote.port()) + "\n    ctx: 512\n");
  yaml += "search:\n  enabled: false\n";
  std::ofstream(d.config) << yaml;

  const auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  CHECK_THAT(started.out, Catch::Contains("subagent ready at http://127.0.0.1:" + std::to_string(remote.port()) +
                                          " (remote, answered in"));
  const auto j = d.status();
  const auto& sub = j["nodes"]["subagent"];
  CHECK(sub["state"] == "ready");
  CHECK(sub["remote"] == true);
  CHECK(sub["url"] == "http://127.0.0.1:" + std::to_string(remote.port()));
  CHECK(sub["pid"].is_null());
  CHECK_THAT(sub["model"].get<std::string>(), Catch::Contains("remote-hello"));  // GET /v1/models
  CHECK(j["nodes"]["orchestrator"]["remote"] == false);
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("remote"));

  // The gateway talks to it.
  const auto chat = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"});
  INFO(chat.err);
  CHECK(chat.exit_code == 0);
  CHECK(chat.out == "Hello, world!\n");

  // Stopping openclawd leaves the server alone.
  CHECK(d.stop().exit_code == 0);
  CHECK(process_alive(remote.pid()));
  CHECK(http_status(remote.port(), "/health") == 200);
}

TEST_CASE("url: a node whose server stops answering is shown down, never restarted", "[url][e2e]") {
  daemon_setup d;
  auto remote = std::make_unique<llama_process>(make_model(d.dir / "remote.gguf"), 512);
  const int port = remote->port();
  d.write_config();
  std::string yaml = read_file(d.config);
  const auto from = yaml.find("  subagent:\n");
  yaml.replace(from, yaml.find("health:\n") - from,
               "  subagent:\n    url: http://127.0.0.1:" + std::to_string(port) + "\n    ctx: 512\n");
  yaml += "search:\n  enabled: false\n";
  std::ofstream(d.config) << yaml;
  REQUIRE(d.start().exit_code == 0);

  remote->kill_now();
  REQUIRE(wait_until([&] { return d.node_state("subagent") == "backoff"; }));
  const auto j = d.status();
  CHECK_THAT(j["nodes"]["subagent"]["error"].get<std::string>(), Catch::Contains("stopped answering"));
  CHECK(j["nodes"]["subagent"]["pid"].is_null());
  CHECK(j["nodes"]["subagent"]["restarts"] == 0);
  const auto text = run_openclawd({"status", "--config", d.config.string()});
  CHECK_THAT(text.out, Catch::Contains("subagent: down: "));

  // Back on the same port: ready again, by itself.
  remote = std::make_unique<llama_process>(make_model(d.dir / "remote.gguf"), 512, std::vector<std::string>{}, port);
  CHECK(wait_until([&] { return d.node_state("subagent") == "ready"; }));
}

TEST_CASE("reload: a node can move from a model to a url and back", "[reload][url][e2e]") {
  daemon_setup d;
  d.orchestrator_model = make_model(d.dir / "orchestrator-hello.gguf", "hello").string();
  d.subagent_model = make_model(d.dir / "subagent-hello.gguf", "hello").string();
  d.top_extra = "search:\n  enabled: false\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  const auto orchestrator = d.node_pid("orchestrator");
  const auto spawned = d.node_pid("subagent");
  llama_process remote(make_model(d.dir / "remote-hello.gguf", "hello"), 512);

  const std::string local_yaml = read_file(d.config);
  std::string yaml = local_yaml;
  const auto from = yaml.find("  subagent:\n");
  yaml.replace(from, yaml.find("health:\n") - from,
               "  subagent:\n    url: http://127.0.0.1:" + std::to_string(remote.port()) + "\n    ctx: 512\n");
  std::ofstream(d.config) << yaml;
  const auto r = run_openclawd({"reload", "--config", d.config.string()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("subagent restarted (model: " + d.subagent_model + " → url: http://127.0.0.1:"));
  CHECK(d.status()["nodes"]["subagent"]["remote"] == true);
  CHECK(wait_until([&] { return !process_alive(*spawned); }));
  CHECK(d.node_pid("orchestrator") == orchestrator);
  // The gateway followed the node to its new address (the old port is closed now).
  const auto chat = run_openclawd({"chat", "--config", d.config.string(), "--message", "Hi"});
  INFO(chat.err);
  CHECK(chat.exit_code == 0);
  CHECK(chat.out == "Hello, world!\n");

  // A url that nobody answers does not become ready within startup_timeout: rolled back.
  replace_in_file(d.config, ":" + std::to_string(remote.port()) + "\n",
                  ":" + std::to_string(free_port()) + "\n    startup_timeout: 1s\n");
  const auto dead_reload = run_openclawd({"reload", "--config", d.config.string()});
  INFO(dead_reload.out << dead_reload.err);
  CHECK(dead_reload.exit_code == 1);
  CHECK_THAT(dead_reload.err, Catch::Contains("did not answer GET /health with 200 within startup_timeout"));
  CHECK(d.node_state("subagent") == "ready");
  CHECK(d.status()["nodes"]["subagent"]["url"] == "http://127.0.0.1:" + std::to_string(remote.port()));

  // And back to a model openclawd runs.
  std::ofstream(d.config) << local_yaml;
  const auto back = run_openclawd({"reload", "--config", d.config.string()});
  INFO(back.out << back.err);
  CHECK(back.exit_code == 0);
  const auto j = d.status();
  CHECK(j["nodes"]["subagent"]["remote"] == false);
  CHECK(j["nodes"]["subagent"]["pid"].is_number_integer());
  CHECK(j["nodes"]["subagent"]["state"] == "ready");
  CHECK(process_alive(remote.pid()));
}
