// RPC workers end to end, with the real programs: llama.cpp's ggml-rpc-server (Debian's
// llama.cpp-tools-extra) as two workers and the real llama-server putting the orchestrator's
// layers on them with --rpc, all on loopback. The model is a tiny one with Gemma 3's real
// vocabulary and chat template.
//
// "The layers are on the workers" is read from the workers' side: with GGML_RPC_DEBUG=1 in
// their environment, ggml-rpc-server logs every buffer it allocates for its client and every
// graph it computes, and those lines land in the worker's own log file (state/logs/<name>.log).
#include "tests/support/harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

namespace {

using namespace openclawd::test;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Both nodes on the tiny Gemma 3 model, the orchestrator's layers on `rpc` (a YAML list of
// worker names), `workers` the YAML under workers: (indent 2).
void on_workers(daemon_setup& d, const std::string& rpc, const std::string& workers) {
  d.orchestrator_model = real_vocab_model("gemma3", "hello").string();
  d.subagent_model = d.orchestrator_model;
  d.orchestrator_gpu_layers = 99;
  d.orchestrator_extra = "    rpc: " + rpc + "\n";
  d.top_extra = "workers:\n" + workers;
}

// A daemon whose orchestrator runs with -ngl 99 on two local workers.
struct rpc_setup {
  daemon_setup d;
  int w1_port = free_port();
  int w2_port = free_port();

  explicit rpc_setup(const std::string& worker_extra = "") {
    rpc_server_bin();  // a clear failure when setup.sh has not installed the worker
    on_workers(d, "[w1, w2]",
               "  w1:\n"
               "    port: " + std::to_string(w1_port) + "\n"
               "    threads: 1\n" + worker_extra +
               "  w2:\n"
               "    port: " + std::to_string(w2_port) + "\n"
               "    threads: 1\n" + worker_extra);
    d.write_config();
  }
  nlohmann::json worker(const std::string& name) { return d.status()["workers"][name]; }
  // Sends `sig` to a worker and waits until both it and the orchestrator run again as new
  // processes; the seconds that took.
  double recovery_after(const std::string& name, int sig) {
    const auto worker = d.worker_pid(name);
    const auto node = d.node_pid("orchestrator");
    REQUIRE(worker);
    REQUIRE(node);
    const auto t0 = std::chrono::steady_clock::now();
    ::kill(*worker, sig);
    const bool back = wait_until([&] {
      const auto j = d.status();
      return j["workers"][name]["state"] == "ready" && j["workers"][name]["pid"] != *worker &&
             j["nodes"]["orchestrator"]["state"] == "ready" && j["nodes"]["orchestrator"]["pid"] != *node;
    }, deadline_long);
    INFO(d.status().dump(2));
    REQUIRE(back);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::filesystem::path log_of(const std::string& name) { return d.state_dir() / "logs" / (name + ".log"); }
  std::string chat(const std::string& text) {
    const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", text});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    return r.out;
  }
};

// Bytes the worker allocated for its client, from its "[alloc_buffer] ... size: 8.02 MiB" lines.
double allocated_bytes(const std::string& log) {
  static const std::regex line(R"(\[alloc_buffer\][^\n]*size: ([0-9.]+) (B|KiB|MiB|GiB))");
  double total = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
    const double v = std::stod((*it)[1]);
    const std::string unit = (*it)[2];
    total += v * (unit == "GiB" ? 1024.0 * 1024 * 1024 : unit == "MiB" ? 1024.0 * 1024 : unit == "KiB" ? 1024.0 : 1.0);
  }
  return total;
}

int count_of(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("rpc: the orchestrator's layers are on two real workers, a chat is answered, a lost worker is recovered",
          "[rpc][e2e]") {
  rpc_setup s;
  const auto started = s.d.start({{"GGML_RPC_DEBUG", "1"}});
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  CHECK(started.out.find("RPC worker w1 ready at 127.0.0.1:" + std::to_string(s.w1_port)) != std::string::npos);
  CHECK(started.out.find("RPC worker w2 ready at 127.0.0.1:" + std::to_string(s.w2_port)) != std::string::npos);

  const auto st = s.d.status();
  for (const char* w : {"w1", "w2"}) {
    INFO(st.dump(2));
    CHECK(st["workers"][w]["state"] == "ready");
    CHECK(st["workers"][w]["used_by"] == nlohmann::json::array({"orchestrator"}));
    CHECK(st["workers"][w]["rpc_version"].is_string());
    CHECK(st["workers"][w]["pid"].is_number_integer());
  }
  const auto text = run_openclawd({"status", "--config", s.d.config.string()});
  CHECK(text.out.find("RPC WORKER") != std::string::npos);

  // The workers' side: each allocated buffers for the orchestrator's layers (weights, KV).
  for (const char* w : {"w1", "w2"}) {
    const auto log = slurp(s.log_of(w));
    INFO(w << " log:\n" << log.substr(0, 4000));
    CHECK(allocated_bytes(log) > 1024.0 * 1024);
  }
  const int computed_before = count_of(slurp(s.log_of("w1")), "[graph_compute]");

  CHECK(s.chat("Hello?").find("Hello, world!") != std::string::npos);
  // The decision ran on the workers: both computed graphs for it.
  CHECK(count_of(slurp(s.log_of("w1")), "[graph_compute]") > computed_before);
  CHECK(count_of(slurp(s.log_of("w2")), "[graph_compute]") > 0);

  SECTION("SIGKILL of a worker: the worker and then the node come back, and the next message is answered") {
    WARN("worker SIGKILL -> orchestrator ready again: " << s.recovery_after("w1", SIGKILL) << " s");
    CHECK(s.worker("w1")["restarts"] == 1);
    CHECK(s.worker("w1")["last_exit"]["signal"] == "SIGKILL");
    CHECK(s.chat("Still there?").find("Hello, world!") != std::string::npos);
  }

  SECTION("a SIGSTOPped worker is caught, restarted, and the node with it") {
    const auto worker = s.d.worker_pid("w2");
    REQUIRE(worker);
    WARN("worker SIGSTOP -> orchestrator ready again: " << s.recovery_after("w2", SIGSTOP) << " s");
    CHECK_FALSE(process_alive(*worker));
    CHECK(s.worker("w2")["last_exit"]["reason"].get<std::string>().find("liveness") != std::string::npos);
    CHECK(s.chat("And now?").find("Hello, world!") != std::string::npos);
  }

  SECTION("stop leaves no worker behind") {
    const auto pids = s.d.recorded_pids();
    REQUIRE(pids.size() >= 5);  // two nodes, two workers, the daemon
    const auto r = s.d.stop();
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    for (const pid_t p : pids) CHECK_FALSE(process_alive(p));
  }
}

TEST_CASE("rpc: a daemon SIGKILL leaves no worker running, and the next start is clean", "[rpc][e2e]") {
  rpc_setup s;
  SECTION("with the parent-death signal (Linux): the workers die with the daemon") {
    REQUIRE(s.d.start().exit_code == 0);
    const auto pids = s.d.recorded_pids();
    const auto daemon = s.d.status()["daemon"]["pid"].get<int>();
    ::kill(daemon, SIGKILL);
    CHECK(wait_until([&] {
      for (const pid_t p : pids)
        if (process_alive(p)) return false;
      return true;
    }, deadline_long));
  }
  SECTION("without it (as on macOS): the next start stops the workers left behind, then starts") {
    REQUIRE(s.d.start({{"OPENCLAWD_NO_PDEATHSIG", "1"}}).exit_code == 0);
    const auto w1 = s.d.worker_pid("w1");
    const auto w2 = s.d.worker_pid("w2");
    REQUIRE(w1);
    REQUIRE(w2);
    const auto daemon = s.d.status()["daemon"]["pid"].get<int>();
    ::kill(daemon, SIGKILL);
    REQUIRE(wait_until([&] { return !process_alive(daemon); }));
    CHECK(process_alive(*w1));  // orphans, until the next start
    const auto again = s.d.start();
    INFO(again.out << again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(again.err.find("stopped w1 (pid " + std::to_string(*w1)) != std::string::npos);
    CHECK(again.err.find("stopped w2 (pid " + std::to_string(*w2)) != std::string::npos);
    CHECK_FALSE(process_alive(*w1));
    CHECK_FALSE(process_alive(*w2));
    CHECK(s.d.status()["workers"]["w1"]["state"] == "ready");
  }
}

TEST_CASE("rpc: a worker that never answers fails the start, naming the worker", "[rpc][e2e]") {
  daemon_setup d;
  const int nobody = free_port();  // nothing listens there
  on_workers(d, "[gpu-box]",
             "  gpu-box:\n"
             "    remote: 127.0.0.1:" + std::to_string(nobody) + "\n"
             "    startup_timeout: 1s\n");
  d.write_config();
  const auto r = d.start();
  INFO(r.out << r.err);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("orchestrator") != std::string::npos);
  CHECK(r.err.find("RPC worker gpu-box failed") != std::string::npos);
  CHECK(r.err.find("did not answer the RPC handshake within startup_timeout") != std::string::npos);
  CHECK(r.err.find("nothing is left running") != std::string::npos);
}

namespace {

// A worker the test runs itself, as on another machine: openclawd only checks it.
struct own_worker {
  pid_t pid = -1;
  int port;
  explicit own_worker(const std::filesystem::path& log, int on_port = free_port()) : port(on_port) {
    const auto bin = rpc_server_bin();
    pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      const std::string p = std::to_string(port);
      ::execl(bin.c_str(), bin.c_str(), "-H", "127.0.0.1", "-p", p.c_str(), "-t", "1", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~own_worker() {
    if (pid > 0) {
      ::kill(pid, SIGCONT);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

TEST_CASE("rpc: a node whose /health says 200 but which computes nothing is caught by a test completion",
          "[rpc][e2e]") {
  daemon_setup d;
  own_worker w(d.dir / "own-worker.log");
  on_workers(d, "[gpu-box]",
             "  gpu-box:\n"
             "    remote: 127.0.0.1:" + std::to_string(w.port) + "\n");
  d.health_extra = "  work_probe_idle: 1s\n"
                   "  work_probe_timeout: 2s\n";
  d.write_config();
  const auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  CHECK(started.out.find("RPC worker gpu-box ready at 127.0.0.1:" + std::to_string(w.port) + " (remote") !=
        std::string::npos);
  const auto node = d.node_pid("orchestrator");
  REQUIRE(node);

  // The worker stops computing; llama-server's HTTP thread still says 200 on /health.
  ::kill(w.pid, SIGSTOP);
  const bool caught = wait_until([&] {
    const auto j = d.status()["nodes"]["orchestrator"];
    return j["last_exit"].is_object() &&
           j["last_exit"]["reason"].get<std::string>().find("test completions in a row failed") != std::string::npos;
  }, deadline_long);
  INFO(d.status().dump(2));
  REQUIRE(caught);
  CHECK_FALSE(process_alive(*node));

  // Once the worker computes again, the node comes back and answers. Run by hand with the
  // default SIGPIPE, ggml-rpc-server dies when it answers the killed node's last requests: a
  // worker on another machine wants a service manager that restarts it (docs/operations.md).
  // Here the test is that service manager.
  ::kill(w.pid, SIGCONT);
  std::optional<own_worker> again;
  if (wait_until([&] { return ::waitpid(w.pid, nullptr, WNOHANG) == w.pid; }, 5s)) {
    w.pid = -1;
    again.emplace(d.dir / "own-worker-2.log", w.port);
  }
  const bool back = wait_until([&] { return d.node_state("orchestrator") == "ready"; }, deadline_long);
  INFO(slurp(d.state_dir() / "logs" / "daemon.log"));
  INFO(slurp(d.state_dir() / "logs" / "orchestrator.log").substr(0, 6000));
  INFO(slurp(d.dir / "own-worker.log").substr(0, 6000));
  REQUIRE(back);
  const auto r = run_openclawd({"chat", "--config", d.config.string(), "--message", "Back?"});
  INFO(r.out << r.err);
  CHECK(r.out.find("Hello, world!") != std::string::npos);
}

TEST_CASE("rpc: doctor checks the worker program, a remote worker's memory, the node's RPC client and the split",
          "[rpc][e2e]") {
  daemon_setup d;
  own_worker remote(d.dir / "own-worker.log");
  REQUIRE(wait_until([&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(remote.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }));
  const int local_port = free_port();
  on_workers(d, "[w1, gpu-box]",
             "  w1:\n"
             "    port: " + std::to_string(local_port) + "\n"
             "  gpu-box:\n"
             "    remote: 127.0.0.1:" + std::to_string(remote.port) + "\n");
  d.write_config();
  const auto r = run_openclawd({"doctor", "--config", d.config.string(), "--json"});
  INFO(r.out << r.err);
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  auto check = [&](const std::string& name) {
    for (const auto& c : j["checks"])
      if (c["check"] == name) return c;
    FAIL("no doctor check named " << name);
    return nlohmann::json();
  };
  const auto w1 = check("w1 worker");
  CHECK(w1["verdict"] == "ok");
  CHECK(w1["detail"].get<std::string>().find("backends ") != std::string::npos);
  CHECK(w1["detail"].get<std::string>().find("CPU") != std::string::npos);
  CHECK(w1["detail"].get<std::string>().find("127.0.0.1:" + std::to_string(local_port) + " is free") != std::string::npos);
  const auto box = check("gpu-box worker");
  CHECK(box["verdict"] == "ok");
  CHECK(box["detail"].get<std::string>().find("answers (RPC ") != std::string::npos);
  CHECK(box["detail"].get<std::string>().find(" free of ") != std::string::npos);
  const auto client = check("orchestrator RPC client");
  CHECK(client["verdict"] == "ok");
  CHECK(client["detail"].get<std::string>().find("loads the RPC backend") != std::string::npos);
  const auto split = check("orchestrator on workers");
  CHECK(split["detail"].get<std::string>().find("w1 about ") != std::string::npos);
  CHECK(split["detail"].get<std::string>().find("gpu-box about ") != std::string::npos);
}

TEST_CASE("rpc: reload restarts only what changed: a changed worker and its node, a new worker, a removed one",
          "[rpc][e2e][reload]") {
  rpc_setup s;
  REQUIRE(s.d.start().exit_code == 0);
  const auto w1 = s.d.worker_pid("w1");
  const auto w2 = s.d.worker_pid("w2");
  const auto orch = s.d.node_pid("orchestrator");
  const auto sub = s.d.node_pid("subagent");
  REQUIRE((w1 && w2 && orch && sub));

  SECTION("w2's threads change: w2 and the orchestrator restart, w1 and the subagent keep their process") {
    const auto at = s.d.top_extra.rfind("    threads: 1\n");
    s.d.top_extra.replace(at, 15, "    threads: 2\n");
    s.d.write_config();
    const auto r = run_openclawd({"reload", "--config", s.d.config.string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    REQUIRE(wait_until([&] {
      const auto j = s.d.status();
      return j["workers"]["w2"]["state"] == "ready" && j["workers"]["w2"]["pid"] != *w2 &&
             j["nodes"]["orchestrator"]["state"] == "ready" && j["nodes"]["orchestrator"]["pid"] != *orch;
    }, deadline_long));
    CHECK(s.d.worker_pid("w1") == w1);
    CHECK(s.d.node_pid("subagent") == sub);
    CHECK(s.chat("After the reload?").find("Hello, world!") != std::string::npos);
  }

  SECTION("a third worker is added, then removed again") {
    const int w3_port = free_port();
    const std::string before = s.d.top_extra;
    s.d.top_extra += "  w3:\n    port: " + std::to_string(w3_port) + "\n    threads: 1\n";
    s.d.orchestrator_extra = "    rpc: [w1, w2, w3]\n";
    s.d.write_config();
    auto r = run_openclawd({"reload", "--config", s.d.config.string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    REQUIRE(wait_until([&] {
      const auto j = s.d.status();
      return j["workers"].contains("w3") && j["workers"]["w3"]["state"] == "ready" &&
             j["nodes"]["orchestrator"]["state"] == "ready" && j["nodes"]["orchestrator"]["pid"] != *orch;
    }, deadline_long));
    const auto w3 = s.d.worker_pid("w3");
    REQUIRE(w3);
    CHECK(s.d.worker_pid("w1") == w1);
    CHECK(s.d.worker_pid("w2") == w2);
    CHECK(s.d.node_pid("subagent") == sub);

    s.d.top_extra = before;
    s.d.orchestrator_extra = "    rpc: [w1, w2]\n";
    s.d.write_config();
    r = run_openclawd({"reload", "--config", s.d.config.string()});
    CHECK(r.exit_code == 0);
    CHECK(wait_until([&] { return !process_alive(*w3) && !s.d.status()["workers"].contains("w3"); }, deadline_long));
    CHECK(wait_until([&] { return s.d.node_state("orchestrator") == "ready"; }, deadline_long));
    CHECK(s.chat("Two again?").find("Hello, world!") != std::string::npos);
  }
}
