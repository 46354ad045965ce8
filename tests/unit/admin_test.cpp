// The admin endpoint's pieces without the daemon: the Prometheus writer (checked by an
// independent format checker), the loopback checks, the routing, the views (metrics and
// the HTML page from plain values), and the HTTP server itself on a real socket on
// 127.0.0.1:0 (keep-alive, 403 for a refused peer, the connection cap, the idle deadline,
// oversized headers).
#include "app/admin_server.hpp"
#include "app/admin_views.hpp"
#include "core/prometheus.hpp"
#include "supervisor/os.hpp"
#include "tests/support/prometheus_check.hpp"
#include "tests/support/run_coro.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <limits>

#include <unistd.h>

using namespace openclawd;
using namespace openclawd::test;
using namespace std::chrono_literals;
using core::metric_type;
using core::prometheus_writer;

namespace {

std::string problems_of(const std::string& text) {
  std::string all;
  for (const auto& p : check_exposition(text)) all += p + "\n";
  return all;
}

http::request<http::string_body> request(http::verb method, std::string target) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  return req;
}

supervisor::node_status node(std::string name, supervisor::process_state state) {
  supervisor::node_status n;
  n.name = std::move(name);
  n.state = state;
  n.port = 18081;
  n.model = "/models/a.gguf";
  return n;
}

}  // namespace

// --- the Prometheus writer ---------------------------------------------------------------

TEST_CASE("prometheus: samples are grouped by family, with HELP and TYPE once", "[admin][prometheus]") {
  prometheus_writer w;
  // Two collectors in turn, each adding to the same families, as the daemon's do per node.
  for (const char* n : {"orchestrator", "subagent"}) {
    w.family("openclawd_node_up", metric_type::gauge, "1 while ready");
    w.counter("openclawd_node_restarts_total", "respawns", 2, {{"node", n}});
    w.sample("openclawd_node_up", 1, {{"node", n}});
  }
  w.gauge("openclawd_pipeline_in_flight", "now", 0);
  const auto text = w.text();
  CHECK(text ==
        "# HELP openclawd_node_up 1 while ready\n"
        "# TYPE openclawd_node_up gauge\n"
        "openclawd_node_up{node=\"orchestrator\"} 1\n"
        "openclawd_node_up{node=\"subagent\"} 1\n"
        "# HELP openclawd_node_restarts_total respawns\n"
        "# TYPE openclawd_node_restarts_total counter\n"
        "openclawd_node_restarts_total{node=\"orchestrator\"} 2\n"
        "openclawd_node_restarts_total{node=\"subagent\"} 2\n"
        "# HELP openclawd_pipeline_in_flight now\n"
        "# TYPE openclawd_pipeline_in_flight gauge\n"
        "openclawd_pipeline_in_flight 0\n");
  CHECK(problems_of(text).empty());
  CHECK(w.families() == 3);
  CHECK(prometheus_writer{}.text().empty());
}

TEST_CASE("prometheus: label values and help text are escaped", "[admin][prometheus]") {
  prometheus_writer w;
  w.gauge("m", "a \\ backslash\nand a newline, \"quotes\" stay", 1,
          {{"model", "/models/odd \"name\" \\ with\nnewline <b>.gguf"}, {"node", ""}});
  const auto text = w.text();
  CHECK_THAT(text, Catch::Contains("# HELP m a \\\\ backslash\\nand a newline, \"quotes\" stay\n"));
  CHECK_THAT(text, Catch::Contains("m{model=\"/models/odd \\\"name\\\" \\\\ with\\nnewline <b>.gguf\",node=\"\"} 1\n"));
  INFO(text);
  std::vector<exposition_sample> samples;
  CHECK(check_exposition(text, &samples).empty());
  REQUIRE(samples.size() == 1);
  CHECK(samples[0].labels["model"] == "/models/odd \"name\" \\ with\nnewline <b>.gguf");
  CHECK(core::escape_label_value("plain") == "plain");
}

TEST_CASE("prometheus: values print exactly, integers without an exponent", "[admin][prometheus]") {
  using core::format_metric_value;
  CHECK(format_metric_value(0) == "0");
  CHECK(format_metric_value(-0.0) == "0");
  CHECK(format_metric_value(42) == "42");
  CHECK(format_metric_value(1e15) == "1000000000000000");
  CHECK(format_metric_value(18446744073709551615.0) == "1.8446744073709552e+19");  // %.15g would not read back
  CHECK(format_metric_value(0.25) == "0.25");
  CHECK(format_metric_value(0.1) == "0.1");
  CHECK(format_metric_value(1.0 / 3.0) == "0.33333333333333331");  // 17 digits: reads back exactly
  CHECK(std::stod(format_metric_value(1.0 / 3.0)) == 1.0 / 3.0);
  CHECK(format_metric_value(1.5e-7) == "1.5e-07");
  CHECK(format_metric_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(format_metric_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_metric_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  prometheus_writer w;
  w.gauge("odd_values", "NaN and friends", std::numeric_limits<double>::quiet_NaN(), {{"k", "nan"}});
  w.sample("odd_values", -std::numeric_limits<double>::infinity(), {{"k", "minf"}});
  w.sample("odd_values", 1.5e-7, {{"k", "small"}});
  CHECK(problems_of(w.text()).empty());
}

TEST_CASE("prometheus: bad names and a family declared with two types are programming errors",
          "[admin][prometheus]") {
  CHECK(core::valid_metric_name("openclawd_node_up"));
  CHECK(core::valid_metric_name("a:b_c9"));
  CHECK_FALSE(core::valid_metric_name("9lives"));
  CHECK_FALSE(core::valid_metric_name("has-dash"));
  CHECK_FALSE(core::valid_metric_name(""));
  CHECK(core::valid_label_name("node"));
  CHECK_FALSE(core::valid_label_name("__reserved"));
  CHECK_FALSE(core::valid_label_name("a:b"));
  prometheus_writer w;
  CHECK_THROWS_AS(w.family("bad name", metric_type::gauge, ""), std::invalid_argument);
  CHECK_THROWS_AS(w.sample("undeclared", 1), std::invalid_argument);
  w.family("x_total", metric_type::counter, "");
  CHECK_NOTHROW(w.family("x_total", metric_type::counter, "again"));
  CHECK_THROWS_AS(w.family("x_total", metric_type::gauge, ""), std::invalid_argument);
  CHECK_THROWS_AS(w.sample("x_total", 1, {{"bad-label", "v"}}), std::invalid_argument);
}

// --- loopback checks ---------------------------------------------------------------------

TEST_CASE("admin: only loopback peers are allowed, IPv4-mapped included", "[admin]") {
  auto allowed = [](const char* a) { return app::admin_peer_allowed(asio::ip::make_address(a)); };
  CHECK(allowed("127.0.0.1"));
  CHECK(allowed("127.45.6.7"));
  CHECK(allowed("::1"));
  CHECK(allowed("::ffff:127.0.0.1"));
  CHECK_FALSE(allowed("0.0.0.0"));
  CHECK_FALSE(allowed("10.0.0.1"));
  CHECK_FALSE(allowed("192.168.1.20"));
  CHECK_FALSE(allowed("128.0.0.1"));
  CHECK_FALSE(allowed("::"));
  CHECK_FALSE(allowed("::ffff:192.168.1.20"));
  CHECK_FALSE(allowed("fe80::1"));
  CHECK_FALSE(allowed("2001:db8::1"));
}

TEST_CASE("admin: only loopback Host headers are allowed", "[admin]") {
  using app::admin_host_allowed;
  CHECK(admin_host_allowed(""));
  CHECK(admin_host_allowed("127.0.0.1"));
  CHECK(admin_host_allowed("127.0.0.1:8090"));
  CHECK(admin_host_allowed("localhost:8090"));
  CHECK(admin_host_allowed("LocalHost"));
  CHECK(admin_host_allowed("[::1]:8090"));
  CHECK(admin_host_allowed("[::1]"));
  CHECK_FALSE(admin_host_allowed("evil.example:8090"));  // DNS rebinding: the name is not ours
  CHECK_FALSE(admin_host_allowed("localhost.evil.example"));
  CHECK_FALSE(admin_host_allowed("192.168.1.2:8090"));
  CHECK_FALSE(admin_host_allowed("127.0.0.1:80x"));
  CHECK_FALSE(admin_host_allowed("[::2]:8090"));
  CHECK_FALSE(admin_host_allowed("[::1"));
}

// --- routing -----------------------------------------------------------------------------

TEST_CASE("admin: routing answers 404, 405 with Allow, HEAD without a body", "[admin]") {
  asio::io_context io;
  app::admin_server srv(io.get_executor(), 0);
  srv.set_status([] { return std::string(R"({"daemon":{}})"); });
  srv.set_page([](const std::vector<app::page_section>& extra) {
    return "<!doctype html><p>" + std::to_string(extra.size()) + "</p>";
  });
  srv.add_page_section([] { return app::page_section{"Telegram", {{"pending", "0"}}}; });
  srv.add_collector([](prometheus_writer& w) { w.gauge("openclawd_test", "a test", 7); });

  auto status = srv.respond(request(http::verb::get, "/status"));
  CHECK(status.result() == http::status::ok);
  CHECK(status[http::field::content_type] == "application/json");
  CHECK(status.body() == "{\"daemon\":{}}\n");
  CHECK(status[http::field::cache_control] == "no-store");

  auto metrics = srv.respond(request(http::verb::get, "/metrics?x=1"));
  CHECK(metrics.result() == http::status::ok);
  CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body() == "# HELP openclawd_test a test\n# TYPE openclawd_test gauge\nopenclawd_test 7\n");

  auto page = srv.respond(request(http::verb::get, "/"));
  CHECK(page[http::field::content_type] == "text/html; charset=utf-8");
  CHECK(page.body() == "<!doctype html><p>1</p>");
  CHECK_THAT(std::string(page["Content-Security-Policy"]), Catch::Contains("default-src 'none'"));

  auto head = srv.respond(request(http::verb::head, "/metrics"));
  CHECK(head.result() == http::status::ok);
  CHECK(head.body().empty());
  CHECK(head[http::field::content_length] == std::to_string(metrics.body().size()));

  for (auto verb : {http::verb::post, http::verb::put, http::verb::delete_, http::verb::options}) {
    auto res = srv.respond(request(verb, "/status"));
    CHECK(res.result() == http::status::method_not_allowed);
    CHECK(res[http::field::allow] == "GET, HEAD");
  }
  CHECK(srv.respond(request(http::verb::get, "/nope")).result() == http::status::not_found);
  CHECK(srv.respond(request(http::verb::get, "/status/")).result() == http::status::not_found);
  CHECK(srv.respond(request(http::verb::post, "/nope")).result() == http::status::not_found);
}

TEST_CASE("admin: an exception in a collector becomes a 500, not a crash", "[admin]") {
  asio::io_context io;
  app::admin_server srv(io.get_executor(), 0);
  srv.add_collector([](prometheus_writer& w) { w.sample("never_declared", 1); });
  const auto res = srv.respond(request(http::verb::get, "/metrics"));
  CHECK(res.result() == http::status::internal_server_error);
  CHECK_THAT(res.body(), Catch::Contains("daemon log"));
}

// --- views -------------------------------------------------------------------------------

TEST_CASE("admin: node, pipeline, search and telegram metrics from plain values", "[admin]") {
  prometheus_writer w;
  supervisor::daemon_status d;
  d.pid = 4242;
  d.started_at_unix_ms = 1'000'000;
  app::write_daemon_metrics(w, d, app::process_facts{12345678, 1000.0}, 1'090'500);
  auto orch = node("orchestrator", supervisor::process_state::ready);
  orch.pid = 4243;
  orch.restarts = 1;
  orch.switches = 1;
  orch.model_index = 1;
  orch.model = "/models/with \"quote\".gguf";
  orch.ready_ms = 250;
  orch.health_ms = 1.5;
  app::write_node_metrics(w, orch, app::process_facts{2'000'000, 1060.0}, 1'090'500);
  auto sub = node("subagent", supervisor::process_state::backoff);  // no pid: no process facts
  app::write_node_metrics(w, sub, app::process_facts{999, 1.0}, 1'090'500);
  gateway::pipeline_stats p;
  p.requests = 5;
  p.answered = 4;
  p.failed = 1;
  p.in_flight = 2;
  p.last_decision = gateway::llm_timings{300, 100, 20, 50.0, 400.0};  // cache_n, prompt_n, predicted_n, ms, ms
  app::write_pipeline_metrics(w, p);
  tools::search_stats s;
  s.requests = 10;
  s.blocks = 2;
  s.failures = 1;
  app::write_search_metrics(w, &s, 30.5);
  app::write_telegram_metrics(w, app::telegram_metrics{2.5, 7, 6, 1, 3});

  const auto text = w.text();
  INFO(text);
  std::vector<exposition_sample> samples;
  CHECK(check_exposition(text, &samples).empty());
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels = {}) {
    const auto* found = find_sample(samples, name, labels);
    INFO(name);
    REQUIRE(found != nullptr);
    return found->value;
  };
  CHECK(value("openclawd_daemon_uptime_seconds") == Approx(90.5));
  CHECK(value("openclawd_daemon_resident_memory_bytes") == 12345678);
  CHECK(value("openclawd_node_state", {{"node", "orchestrator"}, {"state", "ready"}}) == 1);
  CHECK(value("openclawd_node_state", {{"node", "orchestrator"}, {"state", "stopped"}}) == 0);
  CHECK(value("openclawd_node_state", {{"node", "subagent"}, {"state", "backoff"}}) == 1);
  CHECK(value("openclawd_node_up", {{"node", "orchestrator"}}) == 1);
  CHECK(value("openclawd_node_up", {{"node", "subagent"}}) == 0);
  CHECK(value("openclawd_node_restarts_total", {{"node", "orchestrator"}}) == 1);
  CHECK(value("openclawd_node_model_switches_total", {{"node", "orchestrator"}}) == 1);
  CHECK(value("openclawd_node_model_info", {{"node", "orchestrator"}, {"model", "/models/with \"quote\".gguf"},
                                            {"model_index", "1"}}) == 1);
  CHECK(value("openclawd_node_uptime_seconds", {{"node", "orchestrator"}}) == Approx(30.5));
  CHECK(value("openclawd_node_resident_memory_bytes", {{"node", "orchestrator"}}) == 2'000'000);
  CHECK(value("openclawd_node_ready_seconds", {{"node", "orchestrator"}}) == Approx(0.25));
  CHECK(value("openclawd_node_health_probe_seconds", {{"node", "orchestrator"}}) == Approx(0.0015));
  CHECK(find_sample(samples, "openclawd_node_resident_memory_bytes", {{"node", "subagent"}}) == nullptr);

  // A url: node: no process here, but its probes are timed.
  prometheus_writer rw;
  auto remote = node("subagent", supervisor::process_state::ready);
  remote.remote_url = "http://10.0.0.5:8080";
  remote.health_ms = 12.0;
  app::write_node_metrics(rw, remote, app::process_facts{}, 0);
  std::vector<exposition_sample> remote_samples;
  CHECK(check_exposition(rw.text(), &remote_samples).empty());
  const auto* probe = find_sample(remote_samples, "openclawd_node_health_probe_seconds", {{"node", "subagent"}});
  REQUIRE(probe != nullptr);
  CHECK(probe->value == Approx(0.012));
  CHECK(find_sample(remote_samples, "openclawd_node_uptime_seconds") == nullptr);
  CHECK(value("openclawd_node_prompt_tokens_per_second", {{"node", "orchestrator"}}) == Approx(2000));
  CHECK(value("openclawd_node_predicted_tokens_per_second", {{"node", "orchestrator"}}) == Approx(50));
  CHECK(value("openclawd_node_cache_reuse_ratio", {{"node", "orchestrator"}}) == Approx(0.75));
  CHECK(find_sample(samples, "openclawd_node_cache_reuse_ratio", {{"node", "subagent"}}) == nullptr);
  CHECK(value("openclawd_pipeline_requests_total") == 5);
  CHECK(value("openclawd_queue_depth", {{"queue", "pipeline"}}) == 2);
  CHECK(value("openclawd_queue_depth", {{"queue", "telegram"}}) == 3);
  CHECK(value("openclawd_search_successes_total") == 7);
  CHECK(value("openclawd_search_blocks_total") == 2);
  CHECK(value("openclawd_search_paused_seconds") == Approx(30.5));
  CHECK(value("openclawd_telegram_poll_lag_seconds") == Approx(2.5));

  gateway::telegram::channel_stats cs;
  cs.updates_received = 4;
  cs.messages_handled = 3;
  cs.send_failures = 1;
  cs.queued = 2;
  auto tm = app::telegram_metrics_of(cs);
  CHECK_FALSE(tm.poll_lag_s);  // no poll has completed yet
  CHECK(tm.updates_received == 4);
  CHECK(tm.replies_sent == 3);
  CHECK(tm.send_failures == 1);
  CHECK(tm.pending == 2);
  cs.last_poll_completed = std::chrono::steady_clock::now();
  tm = app::telegram_metrics_of(cs, cs.last_poll_completed + 3s);
  REQUIRE(tm.poll_lag_s);
  CHECK(*tm.poll_lag_s == Approx(3.0));

  prometheus_writer off;
  app::write_search_metrics(off, nullptr, 0);
  CHECK(off.text() == "# HELP openclawd_search_enabled 1 when the web-search tool is on\n"
                      "# TYPE openclawd_search_enabled gauge\nopenclawd_search_enabled 0\n");
}

TEST_CASE("admin: the status page escapes model paths and every other text", "[admin]") {
  app::status_page_data d;
  d.daemon.pid = 77;
  d.daemon.config = "/home/u/<cfg>.yaml";
  d.now_unix_ms = 5000;
  auto orch = node("orchestrator", supervisor::process_state::ready);
  orch.model = "/models/<script>alert(1)</script>&\"x\".gguf";
  orch.pid = 78;
  orch.switch_reason = "degenerate output: repeated special token <unused50> (3 times)";
  orch.switched_from = "/models/broken.gguf";
  auto sub = node("subagent", supervisor::process_state::failed);
  sub.error = "subagent exited <oops>";
  d.daemon.nodes = {orch, sub};
  d.node_processes = {app::process_facts{3u << 20, 4.0}, {}};
  gateway::pipeline_stats p;
  p.last_answer = gateway::llm_timings{0, 40, 10, 20.0, 100.0};
  d.pipeline = p;
  const auto html = app::render_status_page(d, {app::page_section{"Tele<gram>", {{"a&b", "<i>"}}}});
  INFO(html);
  CHECK_THAT(html, Catch::StartsWith("<!doctype html>"));
  CHECK_THAT(html, Catch::Contains("<meta http-equiv=\"refresh\" content=\"5\">"));
  CHECK_THAT(html, Catch::Contains("/models/&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;x&quot;.gguf"));
  CHECK_THAT(html, Catch::Contains("/home/u/&lt;cfg&gt;.yaml"));
  CHECK_THAT(html, Catch::Contains("repeated special token &lt;unused50&gt;"));
  CHECK_THAT(html, Catch::Contains("subagent exited &lt;oops&gt;"));
  CHECK_THAT(html, Catch::Contains("<h2>Tele&lt;gram&gt;</h2>"));
  CHECK_THAT(html, Catch::Contains("<th>a&amp;b</th><td>&lt;i&gt;</td>"));
  CHECK_THAT(html, Catch::Contains("3.0 MiB"));
  CHECK_THAT(html, Catch::Contains("2000.0"));  // the subagent's prompt tokens/s: 40 in 20 ms
  CHECK_THAT(html, !Catch::Contains("<script>"));
  CHECK_THAT(html, !Catch::Contains("<unused50>"));
  CHECK_THAT(html, !Catch::Contains("src="));  // nothing external
}

TEST_CASE("admin: the status document adds the admin URL only while running with a port", "[admin]") {
  supervisor::daemon_status d;
  d.pid = 9;
  d.nodes = {node("orchestrator", supervisor::process_state::ready)};
  auto j = nlohmann::json::parse(app::status_document(d, true, 0, 8090));
  CHECK(j["daemon"]["admin_url"] == "http://127.0.0.1:8090/");
  CHECK(j["nodes"]["orchestrator"]["state"] == "ready");
  j = nlohmann::json::parse(app::status_document(d, true, 0, 0));
  CHECK(j["daemon"]["admin_url"].is_null());
  j = nlohmann::json::parse(app::status_document(d, false, 0, 8090));
  CHECK(j["daemon"]["admin_url"].is_null());
}

TEST_CASE("admin: process facts of this very process", "[admin]") {
  const auto f = app::read_process_facts(static_cast<int>(::getpid()), std::nullopt);
#if defined(__linux__) || defined(__APPLE__)
  REQUIRE(f.resident_bytes);
  CHECK(*f.resident_bytes > 1024 * 1024);
  REQUIRE(f.started_unix_s);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(*f.started_unix_s <= now + 1);
  CHECK(*f.started_unix_s > now - 3600);  // this test binary started less than an hour ago
#endif
  CHECK_FALSE(app::read_process_facts(0, std::nullopt).resident_bytes);
}

// --- the server on a real socket ---------------------------------------------------------

namespace {

using tcp = asio::ip::tcp;

asio::awaitable<beast::tcp_stream> connect_to(unsigned short port) {
  beast::tcp_stream s(co_await asio::this_coro::executor);
  s.expires_after(5s);
  co_await s.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), asio::use_awaitable);
  co_return s;
}

// One exchange; the error of the read (e.g. end_of_stream when the server closed instead).
asio::awaitable<std::pair<boost::system::error_code, http::response<http::string_body>>> exchange(
    beast::tcp_stream& s, beast::flat_buffer& buf, http::request<http::string_body> req) {
  s.expires_after(5s);
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(s, req, asio::as_tuple(asio::use_awaitable));
  http::response<http::string_body> res;
  if (wec) co_return std::make_pair(wec, res);
  s.expires_after(5s);
  auto [ec, n] = co_await http::async_read(s, buf, res, asio::as_tuple(asio::use_awaitable));
  co_return std::make_pair(ec, std::move(res));
}

// Waits until the server closes the connection (true) or 5 s pass (false).
asio::awaitable<bool> closed_by_server(beast::tcp_stream& s) {
  s.expires_after(5s);
  char byte;
  auto [ec, n] = co_await s.async_read_some(asio::buffer(&byte, 1), asio::as_tuple(asio::use_awaitable));
  co_return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace

TEST_CASE("admin server: keep-alive requests on one connection, bound to 127.0.0.1", "[admin]") {
  asio::io_context io;
  app::admin_server srv(io.get_executor(), 0);
  int renders = 0;
  srv.add_collector([&](prometheus_writer& w) { w.counter("renders_total", "renders", ++renders); });
  REQUIRE(srv.start().empty());
  const auto ep = srv.local_endpoint();
  CHECK(ep.address() == asio::ip::make_address("127.0.0.1"));
  run_one(io, [&]() -> asio::awaitable<void> {
    auto s = co_await connect_to(ep.port());
    beast::flat_buffer buf;
    for (int i = 1; i <= 3; ++i) {
      auto [ec, res] = co_await exchange(s, buf, request(http::verb::get, "/metrics"));
      REQUIRE_FALSE(ec);
      CHECK(res.result() == http::status::ok);
      CHECK(res.keep_alive());
      CHECK_THAT(res.body(), Catch::Contains("renders_total " + std::to_string(i)));
    }
    auto close = request(http::verb::get, "/status");
    close.keep_alive(false);
    auto [ec, res] = co_await exchange(s, buf, close);
    CHECK_FALSE(ec);
    CHECK_FALSE(res.keep_alive());
    const bool closed = co_await closed_by_server(s);
    CHECK(closed);
  }());
  CHECK(srv.stats().requests == 4);
}

TEST_CASE("admin server: a peer that is not allowed gets 403 and the connection closes", "[admin]") {
  asio::io_context io;
  app::admin_server srv(io.get_executor(), 0);
  // Every real peer is loopback (the bind): pretend this one is not.
  srv.set_peer_filter([](const asio::ip::address&) { return false; });
  bool rendered = false;
  srv.set_status([&] {
    rendered = true;
    return std::string("{}");
  });
  REQUIRE(srv.start().empty());
  run_one(io, [&]() -> asio::awaitable<void> {
    auto s = co_await connect_to(srv.local_endpoint().port());
    beast::flat_buffer buf;
    auto [ec, res] = co_await exchange(s, buf, request(http::verb::get, "/status"));
    CHECK_FALSE(ec);
    CHECK(res.result() == http::status::forbidden);
    CHECK_FALSE(res.keep_alive());
    const bool closed = co_await closed_by_server(s);
    CHECK(closed);
  }());
  CHECK_FALSE(rendered);
  CHECK(srv.stats().refused_peers == 1);

  // A foreign Host header (DNS rebinding from a browser) is refused the same way.
  srv.set_peer_filter(app::admin_peer_allowed);
  run_one(io, [&]() -> asio::awaitable<void> {
    auto s = co_await connect_to(srv.local_endpoint().port());
    beast::flat_buffer buf;
    auto req = request(http::verb::get, "/status");
    req.set(http::field::host, "attacker.example:8090");
    auto [ec, res] = co_await exchange(s, buf, req);
    CHECK(res.result() == http::status::forbidden);
    const bool closed = co_await closed_by_server(s);
    CHECK(closed);
  }());
  CHECK_FALSE(rendered);
}

TEST_CASE("admin server: connections over the cap are closed at once, idle ones time out", "[admin]") {
  asio::io_context io;
  app::admin_limits limits;
  limits.max_connections = 1;
  limits.read_timeout = 300ms;
  app::admin_server srv(io.get_executor(), 0, limits);
  REQUIRE(srv.start().empty());
  const auto port = srv.local_endpoint().port();
  run_one(io, [&]() -> asio::awaitable<void> {
    auto first = co_await connect_to(port);
    beast::flat_buffer buf;
    auto [ec, res] = co_await exchange(first, buf, request(http::verb::get, "/status"));
    REQUIRE_FALSE(ec);  // the first connection is now open and counted, and idle
    auto second = co_await connect_to(port);
    const bool second_closed = co_await closed_by_server(second);
    CHECK(second_closed);
    const auto t0 = std::chrono::steady_clock::now();
    const bool first_closed = co_await closed_by_server(first);  // after read_timeout without a request
    CHECK(first_closed);
    CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);
    // The slot is free again. (The server's bookkeeping runs right after the close.)
    asio::steady_timer settle(co_await asio::this_coro::executor);
    for (int i = 0; i < 200 && srv.stats().connections > 0; ++i) {
      settle.expires_after(5ms);
      co_await settle.async_wait(asio::use_awaitable);
    }
    auto third = co_await connect_to(port);
    beast::flat_buffer buf3;
    auto [ec3, res3] = co_await exchange(third, buf3, request(http::verb::get, "/status"));
    CHECK_FALSE(ec3);
    CHECK(res3.result() == http::status::ok);
  }());
  CHECK(srv.stats().refused_connections == 1);
}

TEST_CASE("admin server: oversized headers get 431 and a body over the limit 413", "[admin]") {
  asio::io_context io;
  app::admin_server srv(io.get_executor(), 0);
  REQUIRE(srv.start().empty());
  run_one(io, [&]() -> asio::awaitable<void> {
    {
      auto s = co_await connect_to(srv.local_endpoint().port());
      beast::flat_buffer buf;
      auto req = request(http::verb::get, "/status");
      req.set("X-Padding", std::string(16 * 1024, 'a'));
      auto [ec, res] = co_await exchange(s, buf, req);
      CHECK(res.result() == http::status::request_header_fields_too_large);
    }
    {
      auto s = co_await connect_to(srv.local_endpoint().port());
      beast::flat_buffer buf;
      auto req = request(http::verb::post, "/status");
      req.body() = std::string(64 * 1024, 'b');
      auto [ec, res] = co_await exchange(s, buf, req);
      CHECK(res.result() == http::status::payload_too_large);
    }
  }());
}

TEST_CASE("admin server: a port in use is reported, not thrown", "[admin]") {
  asio::io_context io;
  app::admin_server first(io.get_executor(), 0);
  REQUIRE(first.start().empty());
  const int port = first.local_endpoint().port();
  app::admin_server second(io.get_executor(), port);
  const auto why = second.start();
  CHECK_THAT(why, Catch::Contains("127.0.0.1:" + std::to_string(port) + " is already in use"));
  CHECK_THAT(why, Catch::Contains("admin.port"));
}

// Not part of the suite: `openclawd_ops_tests "[.bench]" -s` prints what one render costs.
TEST_CASE("admin: time to render /metrics and /status", "[.bench]") {
  supervisor::daemon_status d;
  d.pid = static_cast<int>(::getpid());
  d.started_at_unix_ms = 1;
  d.config = "/home/u/.config/openclawd/openclawd.yaml";
  for (const char* name : {"orchestrator", "subagent"}) {
    auto n = node(name, supervisor::process_state::ready);
    n.pid = static_cast<int>(::getpid());  // real /proc reads, as for a live node
    n.pid_start_time = supervisor::os::process_start_time(*n.pid);  // known, as in the daemon
    n.ready_ms = 130;
    n.health_ms = 0.4;
    d.nodes.push_back(n);
  }
  gateway::pipeline_stats p;
  p.last_decision = gateway::llm_timings{300, 100, 20, 50.0, 400.0};
  p.last_answer = p.last_decision;
  tools::search_stats s;
  constexpr int rounds = 2000;
  auto micros_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count();
  };
  std::size_t bytes = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    prometheus_writer w;
    app::write_daemon_metrics(w, d, app::read_own_process_facts(d.started_at_unix_ms), 2);
    for (const auto& n : d.nodes) app::write_node_metrics(w, n, app::read_process_facts(*n.pid, n.pid_start_time), 2);
    app::write_pipeline_metrics(w, p);
    app::write_search_metrics(w, &s, 0);
    bytes = w.text().size();
  }
  const auto metrics_us = micros_since(t0) / rounds;
  // The same without the /proc reads (three RSS and two start-time lookups per scrape).
  const app::process_facts facts{100'000'000, 1.0};
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    prometheus_writer w;
    app::write_daemon_metrics(w, d, facts, 2);
    for (const auto& n : d.nodes) app::write_node_metrics(w, n, facts, 2);
    app::write_pipeline_metrics(w, p);
    app::write_search_metrics(w, &s, 0);
    bytes = w.text().size();
  }
  const auto writer_us = micros_since(t0) / rounds;
  t0 = std::chrono::steady_clock::now();
  std::size_t status_bytes = 0;
  for (int i = 0; i < rounds; ++i) status_bytes = app::status_document(d, true, 2, 8090).size();
  const auto status_us = micros_since(t0) / rounds;
  t0 = std::chrono::steady_clock::now();
  std::size_t page_bytes = 0;
  for (int i = 0; i < rounds; ++i) {
    app::status_page_data pd;
    pd.daemon = d;
    pd.daemon_process = app::read_own_process_facts(1);
    for (const auto& n : d.nodes) pd.node_processes.push_back(app::read_process_facts(*n.pid, n.pid_start_time));
    pd.pipeline = p;
    pd.search = s;
    page_bytes = app::render_status_page(pd).size();
  }
  const auto page_us = micros_since(t0) / rounds;
  WARN("/metrics " << metrics_us << " us (" << bytes << " bytes; " << writer_us << " us without /proc), /status " << status_us << " us (" << status_bytes
                   << " bytes), / " << page_us << " us (" << page_bytes << " bytes)");
}
