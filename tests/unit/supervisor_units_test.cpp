// Unit tests of the supervisor's pieces that need no process: the state machine's
// edges, the llama-server argv, wait-status decoding, state.json and log rotation.
#include "supervisor/model_process.hpp"
#include "supervisor/os.hpp"
#include "supervisor/preflight.hpp"
#include "supervisor/process_state.hpp"
#include "supervisor/rotating_log.hpp"
#include "supervisor/state_file.hpp"
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>

#include <pthread.h>
#include <fstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace openclawd;
using namespace openclawd::supervisor;

TEST_CASE("process_state: names round-trip and the diagram's edges are the valid ones", "[supervisor]") {
  using enum process_state;
  for (auto s : {stopped, starting, ready, backoff, failed, stopping}) {
    CHECK(process_state_from_string(to_string(s)) == s);
  }
  CHECK_FALSE(process_state_from_string("running").has_value());
  CHECK(is_valid_transition(stopped, starting));
  CHECK(is_valid_transition(starting, ready));
  CHECK(is_valid_transition(ready, backoff));
  CHECK(is_valid_transition(backoff, starting));
  CHECK(is_valid_transition(ready, stopping));
  CHECK(is_valid_transition(stopping, stopped));
  CHECK(is_valid_transition(failed, starting));
  CHECK_FALSE(is_valid_transition(stopped, ready));
  CHECK_FALSE(is_valid_transition(stopped, failed));
  CHECK_FALSE(is_valid_transition(failed, ready));
  CHECK_FALSE(is_valid_transition(stopping, ready));
  // Only a url: node takes these: it answers again, or is left with nothing to stop.
  CHECK(is_valid_transition(backoff, ready));
  CHECK(is_valid_transition(ready, stopped));
}

TEST_CASE("llama_server_args: the issue's command line, from an argv vector", "[supervisor]") {
  core::node_config n;
  n.name = "orchestrator";
  n.ctx = 32768;
  n.gpu_layers = 0;
  n.port = 8081;
  n.threads = 6;
  n.parallel = 1;
  n.extra_args = {"--sse-ping-interval", "5", "a b"};
  n.cache_ram = 2ull << 30;
  n.slot_files = true;
  n.slot_dir = "/state/kv/orchestrator";
  const auto a = llama_server_args(n, "/models/x y.gguf");
  const std::vector<std::string> want{"-m",           "/models/x y.gguf",       "-c",   "32768", "-ngl",
                                      "0",            "--host",                 "127.0.0.1", "--port", "8081",
                                      "-t",           "6",                      "-np",  "1",     "--cache-ram",
                                      "2048",         "--slot-save-path",       "/state/kv/orchestrator",
                                      "--sse-ping-interval", "5", "a b"};
  CHECK(a == want);
  n.threads.reset();
  n.parallel.reset();
  n.extra_args.clear();
  n.slot_files = false;
  n.cache_ram = 0;
  // --cache-ram is always written: llama-server's own default (8 GiB) is not what is counted.
  const auto minimal = llama_server_args(n, "/m.gguf");
  CHECK(minimal.size() == 12);
  CHECK(minimal[10] == "--cache-ram");
  CHECK(minimal[11] == "0");
}

TEST_CASE("os: wait statuses decode to readable sentences", "[supervisor]") {
  CHECK(os::decode_wait_status(1 << 8).describe() == "exited with code 1");
  CHECK(os::decode_wait_status(0).describe() == "exited with code 0");
  CHECK(os::decode_wait_status(SIGKILL).describe() == "killed by signal 9 (SIGKILL)");
  CHECK(os::decode_wait_status(SIGSEGV).signal == SIGSEGV);
  CHECK(os::signal_name(SIGTERM) == "SIGTERM");
}

TEST_CASE("os: process identity survives only for the same process", "[supervisor]") {
  const auto me = os::process_start_time(::getpid());
  REQUIRE(me.has_value());
  CHECK(os::same_process_alive(::getpid(), me));
  CHECK_FALSE(os::same_process_alive(::getpid(), *me + 1));  // a recycled pid has another start time
  CHECK_FALSE(os::process_start_time(0).has_value());
}

#if defined(__linux__)  // /proc: what the zombie-leader state looks like is Linux-specific
TEST_CASE("os: a process whose main thread is a zombie but whose other threads still run is alive, port and all",
          "[supervisor]") {
  // What a SIGKILL of llama-server looks like for a moment: the main thread reads 'Z' while the
  // others exit and the listening port is still bound. Made to last here: the child's main
  // thread exits on its own, a second thread keeps the port until the child is killed.
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) ::_exit(1);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    pthread_t t;
    ::pthread_create(&t, nullptr, [](void*) -> void* {
      for (;;) ::pause();
    }, nullptr);
    if (::write(ready[1], &port, sizeof port) != sizeof port) ::_exit(1);
    // The main thread only (the raw syscall: pthread_exit would unwind into Catch's handlers);
    // the process lives on in the other thread.
    ::syscall(SYS_exit, 0);
  }
  ::close(ready[1]);
  int port = 0;
  REQUIRE(::read(ready[0], &port, sizeof port) == sizeof port);
  ::close(ready[0]);
  const auto start = os::process_start_time(pid);
  REQUIRE(start.has_value());
  // Wait until the main thread is a zombie (generous: the check is on the state, not the time).
  auto main_state = [&] {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
  };
  for (int i = 0; i < 5000 && main_state() != 'Z'; ++i) ::usleep(1000);
  REQUIRE(main_state() == 'Z');
  CHECK(os::same_process_alive(pid, start));
  CHECK(port_unavailable(port).has_value());
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK_FALSE(os::same_process_alive(pid, start));
  CHECK_FALSE(port_unavailable(port).has_value());
}
#endif

TEST_CASE("state_file: written atomically and read back, status JSON has the documented shape",
          "[supervisor]") {
  test::temp_dir dir;
  daemon_status d;
  d.pid = 4242;
  d.started_at_unix_ms = 1'000;
  d.started_at = "2026-11-24T00:00:00.000Z";
  d.config = "/etc/openclawd.yaml";
  node_status o;
  o.name = "orchestrator";
  o.state = process_state::ready;
  o.pid = 4243;
  o.pid_start_time = 99;
  o.port = 8081;
  o.model = "/m/o.gguf";
  o.restarts = 2;
  o.last_exit = exit_record{std::nullopt, SIGKILL, "killed by signal 9 (SIGKILL)", "exited unexpectedly", "t"};
  node_status s;
  s.name = "subagent";
  s.state = process_state::backoff;
  s.port = 8082;
  s.retry_at = "later";
  d.nodes = {s, o};  // any order in; orchestrator first out
  REQUIRE(write_state_file(dir / "state.json", d).has_value());
  CHECK_FALSE(std::filesystem::exists(dir / "state.json.tmp"));
  const auto back = read_state_file(dir / "state.json");
  REQUIRE(back.has_value());
  REQUIRE(back->nodes.size() == 2);
  CHECK(back->nodes[0].name == "orchestrator");
  CHECK(back->nodes[0].pid == 4243);
  CHECK(back->nodes[0].pid_start_time == 99u);
  CHECK(back->nodes[0].last_exit->signal == SIGKILL);
  CHECK(back->nodes[1].retry_at == "later");

  const auto j = nlohmann::json::parse(status_json(*back, true, 61'000));
  CHECK(j["daemon"]["pid"] == 4242);
  CHECK(j["daemon"]["uptime_s"] == 60);
  CHECK(j["nodes"]["orchestrator"]["state"] == "ready");
  CHECK(j["nodes"]["orchestrator"]["pid"] == 4243);
  CHECK(j["nodes"]["orchestrator"]["port"] == 8081);
  CHECK(j["nodes"]["orchestrator"]["model"] == "/m/o.gguf");
  CHECK(j["nodes"]["orchestrator"]["restarts"] == 2);
  CHECK(j["nodes"]["orchestrator"]["last_exit"]["signal"] == "SIGKILL");
  CHECK(j["nodes"]["subagent"]["state"] == "backoff");
  CHECK(j["nodes"]["subagent"]["last_exit"].is_null());

  const auto down = nlohmann::json::parse(status_json(*back, false, 61'000));
  CHECK(down["daemon"]["running"] == false);
  CHECK(down["daemon"]["pid"].is_null());
  CHECK(down["nodes"]["orchestrator"]["state"] == "stopped");
  CHECK(down["nodes"]["orchestrator"]["pid"].is_null());
  CHECK(down["nodes"]["orchestrator"]["last_exit"]["signal"] == "SIGKILL");  // still shown while down

  std::ofstream(dir / "garbage.json") << "{not json";
  CHECK_FALSE(read_state_file(dir / "garbage.json").has_value());
  CHECK_FALSE(read_state_file(dir / "missing.json").has_value());
}

TEST_CASE("rotating_log: rotates by size and keeps `keep` old files", "[supervisor]") {
  test::temp_dir dir;
  const auto path = dir / "node.log";
  {
    rotating_log log(path, 100, 2);
    const std::string line(40, 'x');
    for (int i = 0; i < 10; ++i) log.write(line + "\n");
    CHECK(log.failed_writes() == 0);
  }
  CHECK(std::filesystem::file_size(path) <= 100);
  CHECK(std::filesystem::exists(dir / "node.log.1"));
  CHECK(std::filesystem::exists(dir / "node.log.2"));
  CHECK_FALSE(std::filesystem::exists(dir / "node.log.3"));
  // Lines are never split by a rotation.
  std::ifstream in(dir / "node.log.1");
  std::string line;
  while (std::getline(in, line)) CHECK(line.size() == 40);
}

TEST_CASE("preflight: a listening port is reported, a free one is not", "[supervisor]") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  CHECK(port_unavailable(port).has_value());
  ::close(fd);
  CHECK_FALSE(port_unavailable(port).has_value());
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(3ull << 30) == "3.0 GiB");
}

TEST_CASE("preflight: the memory estimate reads the model's header for the KV cache", "[supervisor]") {
  test::temp_dir dir;
  core::config cfg;
  core::node_config n;
  n.name = "orchestrator";
  n.ctx = 4096;
  n.model = test::make_model(dir / "m.gguf");
  cfg.nodes.push_back(n);
  const auto r = estimate_memory(cfg);
  REQUIRE(r.nodes.size() == 1);
  CHECK(r.nodes[0].kv_known);
  CHECK(r.nodes[0].weights_bytes == std::filesystem::file_size(n.model));
  // 2 (K,V) * 2 blocks * 4096 tokens * 64 (4 kv heads * 16) * 2 bytes
  CHECK(r.nodes[0].kv_cache_bytes == 2ull * 2 * 4096 * 64 * 2);
  CHECK(r.warnings.empty());
  CHECK(r.physical_bytes.has_value());
}

TEST_CASE("preflight: a memory estimate above the machine's RAM warns, one that fits does not",
          "[supervisor]") {
  memory_report r;
  r.nodes.push_back({"orchestrator", 17ull << 30, 6ull << 30, true});  // 26B Q4_K_M + 32K context
  r.nodes.push_back({"subagent", 3ull << 30, 1ull << 30, true});
  r.physical_bytes = 40ull << 30;  // the story's iMac
  r.available_bytes = 36ull << 30;
  assess_memory(r);
  CHECK(r.warnings.empty());

  r.physical_bytes = 24ull << 30;
  r.warnings.clear();
  assess_memory(r);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains("27.0 GiB"));
  CHECK_THAT(r.warnings[0], Catch::Contains("24.0 GiB of RAM"));

  r.physical_bytes = 64ull << 30;
  r.available_bytes = 20ull << 30;
  r.warnings.clear();
  assess_memory(r);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains("available"));
}

TEST_CASE("preflight: the KV estimate is capped at the model's training context", "[supervisor]") {
  test::temp_dir dir;
  core::config cfg;
  core::node_config n;
  n.name = "subagent";
  n.ctx = 1 << 20;  // far beyond the tiny model's 32768
  n.model = test::make_model(dir / "m.gguf");
  cfg.nodes.push_back(n);
  const auto r = estimate_memory(cfg);
  CHECK(r.nodes[0].kv_cache_bytes == 2ull * 2 * 32768 * 64 * 2);
}

TEST_CASE("command_change: only what shapes the command line needs a restart", "[supervisor][reload]") {
  core::node_config a;
  a.name = "subagent";
  a.llama_server = "/usr/bin/llama-server";
  a.model = "/m/concierge-Q4_K_M.gguf";
  a.fallbacks = {"/m/concierge-Q4_0.gguf"};
  a.ctx = 8192;
  a.port = 8082;
  core::node_config b = a;
  CHECK(command_change(a, b, a.model).empty());
  b.fallbacks.push_back("/m/concierge-Q8_0.gguf");
  b.startup_timeout = std::chrono::seconds(5);
  b.stop_timeout = std::chrono::seconds(1);
  CHECK(command_change(a, b, a.model).empty());
  b.model = "/m/concierge-v2.gguf";
  b.ctx = 16384;
  b.extra_args = {"--api-key", "secret"};
  const auto change = command_change(a, b, a.model);
  CHECK(change == "model: concierge-Q4_K_M.gguf → concierge-v2.gguf, ctx: 8192 → 16384, extra_args");
  CHECK(change.find("secret") == std::string::npos);
  b = a;
  b.threads = 4;
  b.port = 9000;
  CHECK(command_change(a, b, a.model) == "port: 8082 → 9000, threads: unset → 4");
  // A node on its fallback stays there while the fallback is listed.
  b = a;
  CHECK(command_change(a, b, "/m/concierge-Q4_0.gguf").empty());
  b.fallbacks.clear();
  CHECK(command_change(a, b, "/m/concierge-Q4_0.gguf") ==
        "fallbacks: concierge-Q4_0.gguf, which it runs, is no longer listed");
  // url: nodes.
  core::node_config r;
  r.name = "subagent";
  r.url = "http://10.0.0.2:8080";
  r.ctx = 8192;
  CHECK(command_change(a, r, a.model) == "model: /m/concierge-Q4_K_M.gguf → url: http://10.0.0.2:8080");
  CHECK(command_change(r, a, {}) == "url: http://10.0.0.2:8080 → model: /m/concierge-Q4_K_M.gguf");
  core::node_config r2 = r;
  CHECK(command_change(r, r2, {}).empty());
  r2.url = "http://10.0.0.3:8080";
  CHECK(command_change(r, r2, {}) == "url: http://10.0.0.2:8080 → http://10.0.0.3:8080");
}

TEST_CASE("state.json: a url node and the last reload survive a round trip", "[supervisor][reload]") {
  test::temp_dir dir;
  daemon_status st;
  st.pid = 42;
  node_status n;
  n.name = "subagent";
  n.state = process_state::backoff;
  n.remote_url = "http://10.0.0.2:8080";
  n.model = "concierge";
  st.nodes.push_back(n);
  reload_record r;
  r.requested_at_unix_ms = 1234;
  r.requested_at = "2026-01-01T00:00:00.000Z";
  r.finished_at = "2026-01-01T00:00:01.000Z";
  r.outcome = "rolled_back";
  r.reason = "subagent: exited while starting";
  r.nodes.push_back({"subagent", "model: a → b", "rolled_back", "exited while starting"});
  r.applied = {"health"};
  r.deferred = {"search"};
  st.last_reload = r;
  REQUIRE(write_state_file(dir / "state.json", st));
  const auto back = read_state_file(dir / "state.json");
  REQUIRE(back.has_value());
  REQUIRE(back->nodes.size() == 1);
  CHECK(back->nodes[0].remote());
  CHECK(back->nodes[0].url() == "http://10.0.0.2:8080");
  REQUIRE(back->last_reload.has_value());
  const auto& b = *back->last_reload;
  CHECK(b.requested_at_unix_ms == 1234);
  CHECK(b.outcome == "rolled_back");
  CHECK(b.finished_at == r.finished_at);
  REQUIRE(b.nodes.size() == 1);
  CHECK(b.nodes[0].change == "model: a → b");
  CHECK(b.nodes[0].reason == "exited while starting");
  CHECK(b.applied == r.applied);
  CHECK(b.deferred == r.deferred);
  const auto j = nlohmann::json::parse(status_json(st, true, 0));
  CHECK(j["nodes"]["subagent"]["remote"] == true);
  CHECK(j["last_reload"]["outcome"] == "rolled_back");
}
