#include "supervisor/supervisor.hpp"

#include "core/log.hpp"
#include "supervisor/state_file.hpp"

#include <algorithm>

namespace openclawd::supervisor {
using namespace std::chrono_literals;

supervisor::supervisor(asio::any_io_executor ex, const core::config& cfg, daemon_status identity,
                       std::filesystem::path state_file, options opts)
    : ex_(ex),
      identity_(std::move(identity)),
      state_file_(std::move(state_file)),
      log_dir_(cfg.state_dir / "logs"),
      options_(opts),
      changed_(ex) {
  for (const auto& w : cfg.workers) {
    workers_.push_back(std::make_unique<model_process>(
        ex, settings_for_worker(cfg, w), [this](const node_status& st) { on_worker_transition(st); }));
  }
  for (const auto& node : cfg.nodes) {
    nodes_.push_back(std::make_unique<model_process>(
        ex, settings_for(cfg, node), [this](const node_status& st) { on_transition(st); }));
  }
}

model_process::settings supervisor::settings_for(const core::config& cfg, const core::node_config& node) const {
  model_process::settings s{node, cfg.restart, cfg.health, cfg.logs, log_dir_, options_.parent_death_signal, {}, {}, {}};
  if (!node.rpc.empty()) {
    s.gate = [this, names = node.rpc] { return worker_gate(names); };
    s.before_gate = [this, names = node.rpc] {
      for (auto& w : workers_)
        if (std::find(names.begin(), names.end(), w->name()) != names.end()) w->recheck();
    };
  }
  return s;
}

model_process::settings supervisor::settings_for_worker(const core::config& cfg, const core::worker_config& w) const {
  core::node_config n;  // what model_process reads of a node: name, program, port, timeouts
  n.name = w.name;
  n.llama_server = w.rpc_server;
  n.port = w.port;
  n.startup_timeout = w.startup_timeout;
  n.stop_timeout = w.stop_timeout;
  if (w.is_remote()) n.url = "rpc://" + w.remote;  // someone else runs it: only checked
  return model_process::settings{n, cfg.restart, cfg.health, cfg.logs, log_dir_, options_.parent_death_signal, w, {}, {}};
}

std::string supervisor::worker_gate(const std::vector<std::string>& names) const {
  for (const auto& name : names) {
    const model_process* w = nullptr;
    for (const auto& x : workers_)
      if (x->name() == name) w = x.get();
    if (w == nullptr)
      return "failed: RPC worker " + name + " does not run: workers added by a reload start with the next "
             "`openclawd start`";
    const auto& st = w->status();
    if (st.state == process_state::failed) return "failed: RPC worker " + name + " failed: " + st.error;
    if (st.state != process_state::ready)
      return "waiting for RPC worker " + name + " at " + w->current_settings().worker->endpoint() + " (" +
             std::string(to_string(st.state)) + ")";
  }
  return {};
}

void supervisor::on_worker_transition(const node_status& s) {
  const auto before = worker_states_.count(s.name) ? worker_states_[s.name] : process_state::stopped;
  worker_states_[s.name] = s.state;
  if (before == process_state::ready && s.state != process_state::ready && !stop_requested_) {
    // The node's layers on that worker are gone with it (a restarted worker holds nothing).
    for (auto& n : nodes_) {
      const auto& rpc = n->current_settings().node.rpc;
      if (std::find(rpc.begin(), rpc.end(), s.name) != rpc.end())
        n->restart_for("RPC worker " + s.name + " is " + std::string(to_string(s.state)) +
                       (s.last_exit ? " (" + s.last_exit->description + ")" : std::string()));
    }
  }
  for (auto& n : nodes_) n->poke();
  announce();
  if (worker_observer_) worker_observer_(s);
  changed_.notify();
}

supervisor::~supervisor() = default;

void supervisor::on_transition(const node_status& s) {
  announce();
  if (observer_) observer_(s);
  changed_.notify();
}

void supervisor::announce() {
  if (auto r = write_state_file(state_file_, snapshot()); !r) {
    core::log_error("supervisor", "cannot write " + state_file_.string() + ": " + r.error().message());
  }
}

void supervisor::set_chat_template(const std::string& node, const std::filesystem::path& model, std::string summary,
                                   std::string problem) {
  templates_[node] = {model, std::move(summary), std::move(problem)};
  announce();
}

daemon_status supervisor::snapshot() const {
  daemon_status d = identity_;
  d.nodes.clear();
  for (const auto& n : nodes_) {
    d.nodes.push_back(n->status());
    auto& st = d.nodes.back();
    // A note about another model (the node switched since) says nothing about this one.
    if (const auto it = templates_.find(st.name); it != templates_.end() && it->second.model == st.model) {
      st.chat_template = it->second.summary;
      st.chat_template_problem = it->second.problem;
    }
  }
  for (const auto& w : workers_) {
    d.workers.push_back(w->status());
    auto& st = d.workers.back();
    st.endpoint = w->current_settings().worker->endpoint();
    if (w->current_settings().worker->is_remote()) st.remote_url = st.endpoint;
    for (const auto& n : nodes_) {
      const auto& rpc = n->current_settings().node.rpc;
      if (std::find(rpc.begin(), rpc.end(), w->name()) != rpc.end()) st.used_by.push_back(n->name());
    }
  }
  d.last_reload = last_reload_;
  return d;
}

void supervisor::run_owner(model_process& p) {
  ++running_;
  asio::co_spawn(ex_, p.run(), [this, name = p.name()](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        core::log_error("supervisor", name + ": owner coroutine failed: " + ex.what());
      }
    }
    --running_;
    changed_.notify();
  });
  p.start();
}

void supervisor::start_all() {
  announce();
  // Workers first: the nodes wait for them at their gate anyway, but they load meanwhile.
  for (auto* list : {&workers_, &nodes_})
    for (auto& n : *list) run_owner(*n);
}

asio::awaitable<startup_outcome> supervisor::wait_until_started() {
  for (;;) {
    if (stop_requested_) co_return startup_outcome{false, true, {}, "stop requested during start"};
    bool all_ready = true;
    for (const auto& n : nodes_) {
      const auto& st = n->status();
      if (st.state == process_state::failed) co_return startup_outcome{false, false, n->name(), st.error};
      if (st.state != process_state::ready) all_ready = false;
    }
    if (all_ready) co_return startup_outcome{true, false, {}, {}};
    co_await changed_.wait_for(24h);
  }
}

void supervisor::request_stop() {
  stop_requested_ = true;
  changed_.notify();
}

asio::awaitable<void> supervisor::shutdown() {
  for (auto& n : nodes_) n->shutdown();
  // Workers after the nodes: a node whose worker vanishes under it aborts instead of exiting.
  auto nodes_stopped = [&] {
    return std::all_of(nodes_.begin(), nodes_.end(),
                       [](const auto& n) { return n->status().state == process_state::stopped; });
  };
  while (!nodes_stopped() && running_ > static_cast<int>(workers_.size() + retired_workers_.size()))
    co_await changed_.wait_for(1s);
  for (auto& w : workers_) w->shutdown();
  while (running_ > 0) co_await changed_.wait_for(24h);
  announce();
}

asio::awaitable<bool> supervisor::switch_model(std::string node, std::string reason,
                                               std::chrono::milliseconds timeout) {
  model_process* target = nullptr;
  for (auto& n : nodes_)
    if (n->name() == node) target = n.get();
  if (target == nullptr) co_return false;
  const int from = target->status().model_index;
  if (!target->switch_to_next_model(std::move(reason))) {
    core::log_warn("supervisor", node + ": no fallback model left to switch to");
    co_return false;
  }
  // Polled rather than signalled: several callers may wait, and changed_ has one waiter.
  asio::steady_timer tick(ex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto& st = target->status();
    if (st.model_index > from && st.state == process_state::ready) co_return true;
    if (st.state == process_state::failed || st.state == process_state::stopped) co_return false;
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    tick.expires_after(25ms);
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void supervisor::declare_wedged(const std::string& node, std::string reason) {
  for (auto& n : nodes_)
    if (n->name() == node) n->declare_wedged(std::move(reason));
}

std::vector<std::string> supervisor::retry_failed() {
  std::vector<std::string> names;
  for (auto* list : {&workers_, &nodes_}) for (auto& n : *list) {
    if (n->status().state != process_state::failed) continue;
    names.push_back(n->name());
    n->start();
  }
  return names;
}

void supervisor::record_reload(reload_record record) {
  if (record.finished_at.empty()) record.finished_at = core::utc_timestamp();
  last_reload_ = std::move(record);
  announce();
}

asio::awaitable<reload_record> supervisor::reload(const core::config& next, reload_record record) {
  using result = model_process::reconfigure_result;
  struct request {
    model_process* node;
    std::uint64_t id;
    std::optional<std::size_t> entry;  // its line in record.nodes, once it is known to restart
    bool done = false;
  };
  std::vector<request> requests;
  // Long enough for the old child's stop ladder, the new one's start and, if that fails, its
  // stop and the old settings' start again.
  std::chrono::milliseconds budget{0};
  // Workers before the nodes: a new one starts now (the nodes that list it wait at their gate),
  // a changed one restarts (and the nodes on it with it), a removed one stops once no node
  // uses it any more (below).
  for (const auto& w : next.workers) {
    auto it = std::find_if(workers_.begin(), workers_.end(), [&](const auto& x) { return x->name() == w.name; });
    if (it == workers_.end()) {
      workers_.push_back(std::make_unique<model_process>(
          ex_, settings_for_worker(next, w), [this](const node_status& st) { on_worker_transition(st); }));
      run_owner(*workers_.back());
      record.applied.push_back("workers." + w.name + " (started)");
      continue;
    }
    budget = std::max(budget, (*it)->current_settings().node.stop_timeout + w.startup_timeout);
    requests.push_back({it->get(), (*it)->reconfigure(settings_for_worker(next, w)), std::nullopt});
  }
  std::vector<std::string> removed;
  for (const auto& w : workers_)
    if (next.find_worker(w->name()) == nullptr) removed.push_back(w->name());
  for (auto& n : nodes_) {
    const core::node_config* cfg = next.find_node(n->name());
    if (cfg == nullptr) continue;
    const auto& old = n->current_settings().node;
    budget = std::max(budget, old.stop_timeout + cfg->startup_timeout + cfg->stop_timeout + old.startup_timeout);
    requests.push_back({n.get(), n->reconfigure(settings_for(next, *cfg)), std::nullopt});
  }
  budget += 10s;
  record.outcome = "in_progress";
  record.finished_at.clear();
  last_reload_ = record;
  announce();

  // Polled, as in switch_model(): changed_ has one waiter already.
  asio::steady_timer tick(ex_);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  std::string interrupted;
  for (;;) {
    bool all_done = true, noted = false;
    for (auto& r : requests) {
      if (r.done) continue;
      const auto& rc = r.node->reconfiguration();
      if (rc.id != r.id || rc.result == result::pending) {
        all_done = false;
        if (rc.id == r.id && !rc.change.empty() && !r.entry) {  // taken: it restarts
          r.entry = record.nodes.size();
          record.nodes.push_back({r.node->name(), rc.change, "pending", {}});
          noted = true;
        }
        continue;
      }
      if (!rc.change.empty() && !r.entry) {
        r.entry = record.nodes.size();
        record.nodes.push_back({r.node->name(), rc.change, "pending", {}});
      }
      reload_record::node_change* line = r.entry ? &record.nodes[*r.entry] : nullptr;
      const auto& st = r.node->status();
      switch (rc.result) {
        case result::pending: break;  // handled above
        case result::unchanged: r.done = true; break;
        case result::restarted:
          r.done = true;
          if (line) line->result = "restarted";
          break;
        case result::failed:
          r.done = true;
          if (line) {
            line->result = "failed";
            line->reason = rc.reason;
          }
          break;
        case result::rolled_back:
          if (line) {
            line->result = "rolled_back";
            line->reason = rc.reason;
          }
          // Done once the previous settings run again (or failed too).
          if (st.state == process_state::ready) {
            r.done = true;
          } else if (st.state == process_state::failed) {
            r.done = true;
            if (line) line->reason += "\nthe previous settings did not come back either: " + st.error;
          } else {
            all_done = false;
          }
          break;
      }
    }
    if (noted) {
      last_reload_ = record;
      announce();
    }
    if (all_done) break;
    if (stop_requested_) {
      interrupted = "the daemon began to stop before the reload finished";
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      interrupted = "no outcome within " + std::to_string(budget.count() / 1000) + " s";
      break;
    }
    tick.expires_after(25ms);
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  bool failed = !interrupted.empty(), rolled_back = false;
  std::string reasons;
  for (auto& line : record.nodes) {
    if (line.result == "pending") line.result = "failed";
    if (line.result == "failed") failed = true;
    if (line.result == "rolled_back") rolled_back = true;
    if (line.result == "failed" || line.result == "rolled_back")
      reasons += (reasons.empty() ? "" : "\n") + line.reason;  // it names its node
  }
  if (!interrupted.empty()) reasons = interrupted + (reasons.empty() ? "" : "\n" + reasons);
  // Workers no node lists any more: stopped now, after the nodes took their new settings.
  for (const auto& name : removed) {
    auto it = std::find_if(workers_.begin(), workers_.end(), [&](const auto& x) { return x->name() == name; });
    if (it == workers_.end()) continue;
    (*it)->shutdown();
    retired_workers_.push_back(std::move(*it));
    workers_.erase(it);
    worker_states_.erase(name);
    record.applied.push_back("workers." + name + " (stopped)");
  }
  record.outcome = failed ? "failed" : rolled_back ? "rolled_back" : "ok";
  record.reason = reasons;
  record.finished_at = core::utc_timestamp();
  last_reload_ = record;
  announce();
  co_return record;
}

void supervisor::kill_now() {
  for (auto& n : nodes_) n->kill_now();
  for (auto& w : workers_) w->kill_now();
  for (auto& w : retired_workers_) w->kill_now();
}

}  // namespace openclawd::supervisor
