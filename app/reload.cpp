#include "app/reload.hpp"

#include "app/instance.hpp"
#include "core/log.hpp"
#include "net/url.hpp"

#include <algorithm>
#include <utility>

namespace openclawd::app {
using namespace std::chrono_literals;

net::http_peer node_peer(const core::node_config& n) {
  if (n.remote()) {
    // load_config wrote it as http://host:port; parse_url gives an IPv6 host without brackets.
    if (auto u = net::parse_url(n.url)) return {u->host, u->port};
  }
  return {"127.0.0.1", static_cast<std::uint16_t>(n.port)};
}

gateway::openai_client_options client_options_of(const core::node_config& n) {
  gateway::openai_client_options o;
  for (std::size_t i = 0; i < n.extra_args.size(); ++i) {
    const auto& a = n.extra_args[i];
    if (a == "--api-key" && i + 1 < n.extra_args.size()) o.api_key = n.extra_args[i + 1];
    else if (a.rfind("--api-key=", 0) == 0) o.api_key = a.substr(10);
  }
  return o;
}

gateway::node_view node_view_of(const core::node_config& n, gateway::llm_client* client) {
  const int slots = n.parallel.value_or(1);
  return gateway::node_view{n.name, client, n.parallel ? n.ctx / slots : n.ctx, slots,
                            n.remote() ? n.url : n.model.string()};
}

section_changes compare_sections(const core::config& running, const core::config& next) {
  section_changes out;
  // Read by the nodes' owners at every use: in effect at once.
  if (running.restart != next.restart) out.applied.emplace_back("restart");
  if (running.health != next.health) out.applied.emplace_back("health");
  if (running.logs != next.logs) out.applied.emplace_back("logs");
  for (const auto& n : next.nodes) {
    const core::node_config* before = running.find_node(n.name);
    if (before == nullptr) continue;
    const std::string key = "nodes." + n.name + ".";
    if (before->fallbacks != n.fallbacks) out.applied.push_back(key + "fallbacks");
    if (before->startup_timeout != n.startup_timeout) out.applied.push_back(key + "startup_timeout");
    if (before->stop_timeout != n.stop_timeout) out.applied.push_back(key + "stop_timeout");
  }
  // Built once at start: the lock, pid and state files live in state_dir; the search tool and
  // the page reader keep their caches and backoffs; the pipeline's settings shape messages under way; the
  // Telegram poller and the admin endpoint own connections and a port.
  if (running.state_dir != next.state_dir) out.deferred.emplace_back("state_dir");
  if (running.search != next.search) out.deferred.emplace_back("search");
  if (running.pages != next.pages) out.deferred.emplace_back("pages");
  if (running.pipeline != next.pipeline) out.deferred.emplace_back("pipeline");
  if (running.telegram != next.telegram) out.deferred.emplace_back("telegram");
  if (running.admin != next.admin) out.deferred.emplace_back("admin");
  return out;
}

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string indented(std::string text, const std::string& prefix) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::string out = prefix;
  for (const char c : text) {
    out += c;
    if (c == '\n') out += prefix;
  }
  return out;
}

}  // namespace

std::string describe_reload(const supervisor::reload_record& r, bool detailed) {
  std::string out;
  if (r.outcome == "rejected") {
    out = "reload rejected, nothing changed: " + r.reason;
  } else {
    if (r.outcome == "ok") out = "reload ok";
    else if (r.outcome == "rolled_back") out = "reload rolled back";
    else if (r.outcome == "in_progress") out = "reload under way";
    else out = "reload failed";
    std::vector<std::string> nodes;
    for (const auto& n : r.nodes) {
      if (n.result == "restarted") nodes.push_back(n.node + " restarted (" + n.change + ")");
      else if (n.result == "rolled_back") nodes.push_back(n.node + " back on its previous settings (" + n.change + " did not become ready)");
      else if (n.result == "pending") nodes.push_back(n.node + " restarting (" + n.change + ")");
      else nodes.push_back(n.node + " failed (" + n.change + ")");
    }
    out += ": " + (nodes.empty() ? std::string("no command line changed, no node restarted") : join(nodes));
  }
  if (!detailed) {
    if (r.outcome != "rejected" && !r.reason.empty()) out += "; why: " + r.reason.substr(0, r.reason.find('\n'));
    if (!r.deferred.empty()) out += "; at the next start: " + join(r.deferred);
    return out;
  }
  if (r.outcome != "rejected" && !r.reason.empty()) out += "\n" + indented("why: " + r.reason, "  ");
  if (!r.applied.empty()) out += "\n  applied now: " + join(r.applied);
  if (!r.deferred.empty())
    out += "\n  changed, but takes effect at the next start (openclawd stop, then start): " + join(r.deferred);
  return out;
}

reloader::reloader(asio::any_io_executor ex, core::config running, supervisor::supervisor& sup, gateway_side gw)
    : ex_(ex), running_(std::move(running)), sup_(sup), gw_(gw), wake_(ex) {}

void reloader::request() {
  // The receipt time identifies the request: `openclawd reload` waits for an outcome at least
  // as new as its signal.
  pending_ = std::max(pending_.value_or(0), unix_ms_now());
  core::log_info("daemon", started_ ? "reload requested: reading " + running_.source.string()
                                    : "reload requested: it runs once both nodes are ready");
  wake_.notify();
}

void reloader::start() {
  if (started_) return;
  started_ = true;
  asio::co_spawn(ex_, run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      core::log_error("daemon", std::string("reloads stopped: ") + ex.what());
    }
  });
}

void reloader::stop() {
  stopping_ = true;
  wake_.notify();
}

asio::awaitable<void> reloader::run() {
  while (!stopping_) {
    if (!pending_) {
      co_await wake_.wait_for(24h);
      continue;
    }
    const std::int64_t at = *std::exchange(pending_, std::nullopt);
    co_await reload_once(at);
  }
}

asio::awaitable<void> reloader::reload_once(std::int64_t requested_at_unix_ms) {
  supervisor::reload_record rec;
  rec.requested_at_unix_ms = requested_at_unix_ms;
  rec.requested_at = core::utc_timestamp(std::chrono::system_clock::time_point(std::chrono::milliseconds(requested_at_unix_ms)));
  // The same checks as `start` (model files, llama-server, the token file): what the
  // supervisor is handed must be startable.
  auto next = core::load_config(running_.source, core::load_options{true});
  if (!next) {
    rec.outcome = "rejected";
    rec.reason = next.error().to_string();
    core::log_warn("daemon", describe_reload(rec, true));
    sup_.record_reload(std::move(rec));
    co_return;
  }
  const auto sections = compare_sections(running_, *next);
  rec.applied = sections.applied;
  rec.deferred = sections.deferred;
  core::log_info("daemon", "reloading " + running_.source.string());
  rec = co_await sup_.reload(*next, std::move(rec));

  // What runs now: the new settings, except for a node that went back to its previous ones,
  // and the running values of what only a start applies (so the next reload names it again).
  core::config now = *next;
  for (const auto& line : rec.nodes) {
    if (line.result != "rolled_back") continue;
    for (auto& n : now.nodes)
      if (n.name == line.node) n = *running_.find_node(line.node);
  }
  now.state_dir = running_.state_dir;
  now.search = running_.search;
  now.pages = running_.pages;
  now.pipeline = running_.pipeline;
  now.telegram = running_.telegram;
  now.admin = running_.admin;
  follow_nodes(now);
  running_ = std::move(now);
  const std::string text = describe_reload(rec, true);
  if (rec.outcome == "ok") core::log_info("daemon", text);
  else core::log_warn("daemon", text);
}

void reloader::follow_nodes(const core::config& now) {
  for (const auto& n : now.nodes) {
    const core::node_config* before = running_.find_node(n.name);
    gateway::openai_client* client = n.name == "orchestrator" ? gw_.orchestrator : gw_.subagent;
    if (before == nullptr || client == nullptr) continue;
    const auto peer = node_peer(n), old_peer = node_peer(*before);
    if (peer.host != old_peer.host || peer.port != old_peer.port ||
        client_options_of(n).api_key != client_options_of(*before).api_key) {
      // Messages waiting for this node (pipeline.not_ready_wait) poll through the same client:
      // from their next poll on they reach it where it now listens.
      client->retarget(peer, client_options_of(n));
    }
    const auto view = node_view_of(n, client), old_view = node_view_of(*before, client);
    if (gw_.pipeline != nullptr &&
        (view.ctx != old_view.ctx || view.slots != old_view.slots || view.model_key != old_view.model_key))
      gw_.pipeline->update_node(view);
  }
}

}  // namespace openclawd::app
