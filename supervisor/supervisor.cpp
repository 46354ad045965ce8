#include "supervisor/supervisor.hpp"

#include "core/log.hpp"
#include "supervisor/state_file.hpp"

namespace openclawd::supervisor {
using namespace std::chrono_literals;

supervisor::supervisor(asio::any_io_executor ex, const core::config& cfg, daemon_status identity,
                       std::filesystem::path state_file, options opts)
    : ex_(ex), identity_(std::move(identity)), state_file_(std::move(state_file)), changed_(ex) {
  for (const auto& node : cfg.nodes) {
    model_process::settings s{node, cfg.restart, cfg.health, cfg.logs, cfg.state_dir / "logs",
                              opts.parent_death_signal};
    nodes_.push_back(std::make_unique<model_process>(
        ex, std::move(s), [this](const node_status& st) { on_transition(st); }));
  }
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

daemon_status supervisor::snapshot() const {
  daemon_status d = identity_;
  d.nodes.clear();
  for (const auto& n : nodes_) d.nodes.push_back(n->status());
  return d;
}

void supervisor::start_all() {
  announce();
  for (auto& n : nodes_) {
    ++running_;
    asio::co_spawn(ex_, n->run(), [this, name = n->name()](std::exception_ptr e) {
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
    n->start();
  }
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

std::vector<std::string> supervisor::retry_failed() {
  std::vector<std::string> names;
  for (auto& n : nodes_) {
    if (n->status().state != process_state::failed) continue;
    names.push_back(n->name());
    n->start();
  }
  return names;
}

void supervisor::kill_now() {
  for (auto& n : nodes_) n->kill_now();
}

}  // namespace openclawd::supervisor
