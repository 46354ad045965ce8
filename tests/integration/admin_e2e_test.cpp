// The admin endpoint of the real daemon (`openclawd start` with `admin: {port: P}`, two real
// llama-server nodes on tiny models): GET /status is `status --json`, GET /metrics is valid
// exposition text whose node gauges follow a SIGKILLed node back to ready, the page shows
// both models escaped, the methods and paths it refuses, and that it listens on 127.0.0.1
// only. The HTTP client here is a plain blocking socket, independent of the server's Beast.
#include "tests/support/harness.hpp"
#include "tests/support/prometheus_check.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using namespace openclawd::test;
namespace fs = std::filesystem;

namespace {

struct http_answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One request on a fresh connection (Connection: close), read to EOF, 10 s deadline.
std::optional<http_answer> http_call(int port, const std::string& method, const std::string& target,
                                     const std::string& host = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[16384];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return std::nullopt;
  http_answer a;
  a.status = std::stoi(raw.substr(9, 3));
  std::istringstream head(raw.substr(0, end));
  std::string line;
  std::getline(head, line);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    a.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
  }
  a.body = raw.substr(end + 4);
  return a;
}

std::string get_ok(int port, const std::string& target) {
  const auto a = http_call(port, "GET", target);
  REQUIRE(a);
  REQUIRE(a->status == 200);
  return a->body;
}

std::vector<exposition_sample> metrics_of(int port) {
  const auto text = get_ok(port, "/metrics");
  std::vector<exposition_sample> samples;
  const auto problems = check_exposition(text, &samples);
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  INFO(text);
  CHECK(all.empty());
  return samples;
}

double metric(const std::vector<exposition_sample>& samples, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  const auto* s = find_sample(samples, name, labels);
  return s ? s->value : -1.0;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Listening TCP sockets on `port` from /proc/net/tcp{,6}: their local addresses in the
// kernel's hex notation ("0100007F" is 127.0.0.1). Empty without /proc (macOS).
std::vector<std::string> listeners_on(int port) {
  std::vector<std::string> found;
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state;
      f >> slot >> local >> remote >> state;
      const auto colon = local.find(':');
      if (state == "0A" && colon != std::string::npos && local.substr(colon + 1) == want)
        found.push_back(local.substr(0, colon));
    }
  }
  return found;
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

}  // namespace

TEST_CASE("admin: a running daemon serves /status, /metrics and its page, on 127.0.0.1 only", "[admin][e2e]") {
  daemon_setup d;
  // File names with characters that HTML and Prometheus label values must escape.
  d.orchestrator_model = make_model(d.dir / "orch<b>&\"q\".gguf", "random", 1).string();
  d.subagent_model = make_model(d.dir / "sub'<i>.gguf", "random", 2).string();
  const int port = free_port();
  d.top_extra = "admin:\n  port: " + std::to_string(port) + "\n";
  d.write_config();
  const auto started = d.start();
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);

  SECTION("status: the JSON of status --json, and the URL in status") {
    auto cli = d.status();
    const auto served = http_call(port, "GET", "/status");
    REQUIRE(served);
    CHECK(served->status == 200);
    CHECK(served->header("content-type") == "application/json");
    auto http = nlohmann::json::parse(served->body, nullptr, false);
    REQUIRE(http.is_object());
    CHECK(http["daemon"]["admin_url"] == "http://127.0.0.1:" + std::to_string(port) + "/");
    CHECK(http["nodes"]["orchestrator"]["model"] == d.orchestrator_model);
    // Uptime is in whole seconds and the two were taken moments apart.
    CHECK(std::abs(http["daemon"]["uptime_s"].get<long>() - cli["daemon"]["uptime_s"].get<long>()) <= 2);
    http["daemon"].erase("uptime_s");
    cli["daemon"].erase("uptime_s");
    CHECK(http == cli);
    const auto text = run_openclawd({"status", "--config", d.config.string()});
    CHECK_THAT(text.out, Catch::Contains("admin:     http://127.0.0.1:" + std::to_string(port) + "/"));
  }

  SECTION("metrics: valid exposition, node gauges, and a SIGKILLed node counted and back") {
    auto m = metrics_of(port);
    for (const std::string node : {"orchestrator", "subagent"}) {
      INFO(node);
      CHECK(metric(m, "openclawd_node_state", {{"node", node}, {"state", "ready"}}) == 1);
      CHECK(metric(m, "openclawd_node_state", {{"node", node}, {"state", "failed"}}) == 0);
      CHECK(metric(m, "openclawd_node_up", {{"node", node}}) == 1);
      CHECK(metric(m, "openclawd_node_restarts_total", {{"node", node}}) == 0);
      CHECK(metric(m, "openclawd_node_model_switches_total", {{"node", node}}) == 0);
      CHECK(metric(m, "openclawd_node_resident_memory_bytes", {{"node", node}}) > 1e6);
      CHECK(metric(m, "openclawd_node_uptime_seconds", {{"node", node}}) >= 0);
      CHECK(metric(m, "openclawd_node_ready_seconds", {{"node", node}}) > 0);
      CHECK(metric(m, "openclawd_node_health_probe_seconds", {{"node", node}}) > 0);
    }
    CHECK(metric(m, "openclawd_node_model_info", {{"node", "orchestrator"}, {"model", d.orchestrator_model}}) == 1);
    CHECK(metric(m, "openclawd_node_model_info", {{"node", "subagent"}, {"model", d.subagent_model}}) == 1);
    CHECK(metric(m, "openclawd_daemon_resident_memory_bytes") > 1e6);
    CHECK(metric(m, "openclawd_daemon_uptime_seconds") >= 0);
    CHECK(metric(m, "openclawd_pipeline_requests_total") == 0);
    CHECK(metric(m, "openclawd_queue_depth", {{"queue", "pipeline"}}) == 0);
    CHECK(find_sample(m, "openclawd_search_enabled") != nullptr);
    CHECK(metric(m, "openclawd_admin_requests_total") >= 1);

    const auto pid = d.node_pid("orchestrator");
    REQUIRE(pid);
    REQUIRE(::kill(*pid, SIGKILL) == 0);
    CHECK(wait_until(
        [&] {
          const auto now = metrics_of(port);
          return metric(now, "openclawd_node_restarts_total", {{"node", "orchestrator"}}) == 1 &&
                 metric(now, "openclawd_node_state", {{"node", "orchestrator"}, {"state", "ready"}}) == 1;
        },
        deadline_long));
    m = metrics_of(port);
    CHECK(metric(m, "openclawd_node_up", {{"node", "orchestrator"}}) == 1);
    CHECK(metric(m, "openclawd_node_restarts_total", {{"node", "subagent"}}) == 0);
    const auto http = nlohmann::json::parse(get_ok(port, "/status"));
    CHECK(http["nodes"]["orchestrator"]["restarts"] == 1);
    CHECK(http["nodes"]["orchestrator"]["pid"] != *pid);
  }

  SECTION("the page: both models, escaped") {
    const auto served = http_call(port, "GET", "/");
    REQUIRE(served);
    CHECK(served->status == 200);
    CHECK(served->header("content-type") == "text/html; charset=utf-8");
    const auto& html = served->body;
    CHECK_THAT(html, Catch::Contains(html_escape(d.orchestrator_model)));
    CHECK_THAT(html, Catch::Contains(html_escape(d.subagent_model)));
    CHECK_THAT(html, Catch::Contains("orch&lt;b&gt;&amp;&quot;q&quot;.gguf"));
    CHECK_THAT(html, !Catch::Contains("orch<b>"));
    CHECK_THAT(html, !Catch::Contains("<i>.gguf"));
    CHECK_THAT(html, Catch::Contains("<td class=\"ready\">ready</td>"));
  }

  SECTION("refusals: POST is 405, an unknown path 404, a foreign Host 403, HEAD has no body") {
    const auto post = http_call(port, "POST", "/status");
    REQUIRE(post);
    CHECK(post->status == 405);
    CHECK(post->header("allow") == "GET, HEAD");
    const auto missing = http_call(port, "GET", "/nope");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    const auto foreign = http_call(port, "GET", "/status", "rebound.example:" + std::to_string(port));
    REQUIRE(foreign);
    CHECK(foreign->status == 403);
    const auto head = http_call(port, "HEAD", "/metrics");
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(std::stoul(head->header("content-length")) > 100);
    CHECK(head->body.empty());
  }

  SECTION("it listens on 127.0.0.1 only") {
#if defined(__linux__)
    const auto listeners = listeners_on(port);
    REQUIRE(listeners.size() == 1);
    CHECK(listeners[0] == "0100007F");
#endif
    // Every other IPv4 address of this machine refuses the port.
    ifaddrs* list = nullptr;
    REQUIRE(::getifaddrs(&list) == 0);
    int others = 0;
    for (auto* i = list; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
      auto addr = *reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      if ((ntohl(addr.sin_addr.s_addr) >> 24) == 127) continue;
      ++others;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
      char text[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
      INFO("connecting to " << text << ":" << port);
      CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0);
      ::close(fd);
    }
    ::freeifaddrs(list);
    WARN("non-loopback IPv4 addresses tried: " << others);
  }
}

TEST_CASE("admin: a port in use leaves the endpoint off, and the daemon runs and says why", "[admin][e2e]") {
  daemon_setup d;
  const int port = free_port();
  port_holder other(port);
  d.top_extra = "admin:\n  port: " + std::to_string(port) + "\n";
  d.write_config();
  // doctor saw it coming, as a warning: it does not stop a start.
  const auto doctor = run_openclawd({"doctor", "--json", "--config", d.config.string()});
  CHECK(doctor.exit_code == 0);
  const auto j = nlohmann::json::parse(doctor.out, nullptr, false);
  REQUIRE(j.is_object());
  bool warned = false;
  for (const auto& row : j["checks"])
    if (row["check"] == "admin port") warned = row["verdict"] == "warn";
  CHECK(warned);

  REQUIRE(d.start().exit_code == 0);
  CHECK(d.node_state("orchestrator") == "ready");
  CHECK(d.node_state("subagent") == "ready");
  std::ifstream in(d.state_dir() / "logs" / "daemon.log");
  std::stringstream log;
  log << in.rdbuf();
  CHECK_THAT(log.str(), Catch::Contains("the admin endpoint is off: 127.0.0.1:" + std::to_string(port) +
                                        " is already in use"));
}

TEST_CASE("admin: the orchestrator's chats come back from slot files after a chat switch and a daemon restart",
          "[admin][e2e][kv]") {
  // The daemon's own KV keeper (gateway/kv_keeper.hpp) on the Gemma 3 real-vocabulary model,
  // seen through its counters: a warm-up after every answer, a restore when chat A returns to
  // the slot B used, and one after the daemon itself was stopped and started again.
  daemon_setup d;
  d.orchestrator_model = real_vocab_model("gemma3", "hello").string();
  d.subagent_model = real_vocab_model("gemma3", "hello").string();
  d.orchestrator_ctx = d.subagent_ctx = 2048;
  d.orchestrator_extra = "    parallel: 1\n";
  const int port = free_port();
  d.top_extra = "admin:\n  port: " + std::to_string(port) + "\nsearch:\n  enabled: false\n"
                "pipeline:\n  decision_max_tokens: 12\n";
  d.write_config();
  REQUIRE(d.start().exit_code == 0);
  auto say = [&](const std::string& chat, const std::string& text) {
    const auto r = run_openclawd({"chat", "--config", d.config.string(), "--chat", chat, "--message", text});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "Hello, world!\n");
  };
  const std::map<std::string, std::string> orch{{"node", "orchestrator"}};
  // A warm-up follows each answer, in the background: wait for its counter, not for a time.
  auto wait_warmups = [&](double n) {
    REQUIRE(wait_until([&] { return metric(metrics_of(port), "openclawd_kv_warmups_total", orch) >= n; },
                       deadline_long));
  };
  say("a", "Tell me about harbors, bicycles and sourdough, please.");
  wait_warmups(1);
  say("b", "And what about the cello and Lisbon?");
  wait_warmups(2);
  say("a", "Go on about the harbors.");
  wait_warmups(3);
  auto m = metrics_of(port);
  CHECK(metric(m, "openclawd_kv_restores_total", orch) == 1);  // a came back to the slot b had
  CHECK(metric(m, "openclawd_kv_restore_failures_total", orch) == 0);
  CHECK(metric(m, "openclawd_kv_files", orch) == 2);
  CHECK(std::filesystem::exists(d.state_dir() / "kv" / "orchestrator" / "manifest.json"));

  REQUIRE(d.stop().exit_code == 0);
  REQUIRE(d.start().exit_code == 0);
  say("a", "One more thing about harbors.");
  m = metrics_of(port);
  CHECK(metric(m, "openclawd_kv_restores_total", orch) == 1);  // restored from its file, not read again
  CHECK(metric(m, "openclawd_kv_restored_tokens_total", orch) > 50);
}
