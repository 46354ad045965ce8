// One supervised llama-server. model_process owns the child process, its process
// group, its log pipe and its state; run() is the only code that changes them
// (llama-swap's single-writer rule, s6's want-up/is-up split). Callers only state a
// wish — start(), stop(), shutdown() — and read snapshots through the observer.
// Everything runs on one io_context thread: no locks.
#pragma once

#include "core/config.hpp"
#include "core/error.hpp"
#include "net/asio.hpp"
#include "supervisor/node_status.hpp"
#include "supervisor/rotating_log.hpp"

#include <boost/process/v2/process.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace openclawd::supervisor {

// The argv after the program name: `-m MODEL -c CTX -ngl N --host 127.0.0.1 --port PORT [-t T] [-np P] [extra…]`.
std::vector<std::string> llama_server_args(const core::node_config& node, const std::filesystem::path& model);

// An RPC worker's argv after the program name: `-H HOST -p PORT [-t T] [-d DEV] [-c]`.
std::vector<std::string> rpc_worker_args(const core::worker_config& w);

// What a node running `running_model` under `from` must restart for to run under `to`:
// "model: a.gguf → b.gguf, ctx: 512 → 1024", "url: http://a:1 → http://b:2", "extra_args".
// Empty when its process can stay: the command line `to` builds is the one it runs (a node
// on a fallback stays there while that fallback is still listed). Other keys (fallbacks,
// timeouts, restart, health, logs) never need a restart.
std::string command_change(const core::node_config& from, const core::node_config& to,
                           const std::filesystem::path& running_model);

// A level-triggered wake-up for one waiting coroutine: notify() wakes it (or makes its
// next wait return at once); the waiter re-reads every fact it cares about after each
// wake-up, so a notification can never be lost or misread.
class wake_event {
 public:
  explicit wake_event(const asio::any_io_executor& ex) : timer_(ex) {}
  void notify() {
    pending_ = true;
    timer_.cancel();
  }
  // Returns when notified or after `d`. Only one coroutine may wait at a time.
  asio::awaitable<void> wait_for(std::chrono::steady_clock::duration d);

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

class model_process {
 public:
  struct settings {
    core::node_config node;
    core::restart_config restart;
    core::health_config health;
    core::logs_config logs;
    std::filesystem::path log_dir;
    // Linux: the child gets SIGKILL when the daemon dies, whatever killed it. Tests turn
    // this off to exercise the orphan clean-up that macOS (which has no such thing) relies on.
    bool parent_death_signal = true;
    // Set for an RPC worker (ggml-rpc-server): `node` then carries its name, port, program and
    // timeouts, its readiness is an RPC handshake (net/rpc_hello.hpp) instead of GET /health,
    // and its liveness while a node holds it is "not stopped" (it answers one client at a time).
    std::optional<core::worker_config> worker;
    // A node with RPC workers: empty when every one of them is ready, else why the node must
    // wait ("waiting for RPC worker box-a (starting)"); "failed: …" when a worker gave up,
    // which fails the node too. Asked before every spawn; poke() asks again.
    std::function<std::string()> gate;
    // Called once before the gate is asked, at every start of the node: the supervisor has
    // its remote workers answer a handshake again (one may have hung with the last process).
    std::function<void()> before_gate;
  };
  using observer = std::function<void(const node_status&)>;

  // How a reconfigure() request ended, as far as this node goes.
  enum class reconfigure_result {
    pending,      // not taken yet, or the new settings are starting
    unchanged,    // taken without a restart (same command line, or the node is stopped)
    restarted,    // the new command line is ready
    rolled_back,  // it did not become ready: the previous settings are back (and starting)
    failed,       // it did not become ready, with nothing to go back to (the node was failed)
  };
  struct reconfigure_status {
    std::uint64_t id = 0;  // the request this is about
    reconfigure_result result = reconfigure_result::pending;
    std::string change;  // command_change(): empty when no restart was needed
    std::string reason;  // rolled_back, failed: why
  };

  model_process(asio::any_io_executor ex, settings s, observer on_change);
  ~model_process();
  model_process(const model_process&) = delete;
  model_process& operator=(const model_process&) = delete;

  void start();     // want up; also the way out of `failed`
  void stop();      // want down: stop ladder, then `stopped`
  void shutdown();  // want down, and run() returns once stopped
  void kill_now();  // SIGKILL the child's group at once (a second Ctrl-C)
  // Something this node depends on changed (a worker's state): look at the gate again.
  void poke() { wake_.notify(); }
  // Stop the running child and start it again, not as a failure: an RPC worker it used is
  // gone, and its layers with it. The new child waits at the gate for the worker.
  void restart_for(std::string reason);
  bool is_worker() const noexcept { return settings_.worker.has_value(); }
  // The running child answers /health but does no work (the gateway's test completions
  // failed): restart it as a failure, like a failed liveness probe, for `reason`.
  void declare_wedged(std::string reason);
  // A remote worker that is ready: ask it for a handshake again before a node connects (it is
  // `starting` until it answers). A no-op for anything else.
  void recheck();
  // The running model misbehaves (e.g. endless <unused50>): stop it and start the next
  // fallback model. Returns false (and changes nothing) when there is no next model.
  bool switch_to_next_model(std::string reason);
  // New settings for this node (a reload). run() takes them at its next safe point: in place
  // when the command line stays the same; otherwise it stops the child and starts one with
  // them, and if that does not become ready (exit, startup_timeout) it goes back to the
  // previous settings and model, without trying the new fallbacks. Returns the request's id;
  // reconfiguration() tells how it went. A newer request replaces one not yet taken.
  std::uint64_t reconfigure(settings s);
  const reconfigure_status& reconfiguration() const noexcept { return reconfig_; }

  // The owner coroutine. Spawn it once; it returns after shutdown() once the child is reaped.
  asio::awaitable<void> run();

  const node_status& status() const noexcept { return status_; }
  const settings& current_settings() const noexcept { return settings_; }
  const std::string& name() const noexcept { return settings_.node.name; }
  std::filesystem::path log_path() const;
  // The child's last output lines (for error messages).
  std::string log_tail(std::size_t max_lines = 12) const;

 private:
  using clock = std::chrono::steady_clock;
  enum class attempt_end {
    ready, exited, startup_timeout, spawn_failed, wedged, stop_requested, switch_requested, reconfigure_requested,
    restart_requested
  };
  // What a reload's new settings replaced, to go back to when they do not become ready.
  struct previous_settings {
    settings s;
    int model_index = 0;
    bool ready_with_model = false;
  };

  asio::awaitable<attempt_end> start_child();
  asio::awaitable<attempt_end> watch_ready_child();
  asio::awaitable<attempt_end> watch_remote();
  asio::awaitable<result<asio::ip::tcp::endpoint>> server_endpoint(clock::duration timeout);
  asio::awaitable<void> read_remote_model(clock::duration timeout);
  asio::awaitable<void> stop_child(clock::duration grace);
  asio::awaitable<void> watch_exit(std::shared_ptr<boost::process::v2::process> child);
  asio::awaitable<void> drain_output(std::shared_ptr<asio::readable_pipe> pipe);
  asio::awaitable<bool> probe_health(clock::duration timeout, unsigned* status_out);
  asio::awaitable<bool> probe_worker(clock::duration timeout);
  // Waits at settings_.gate: true to spawn now; false when run() must look again (a stop, new
  // settings, or the node failed because a worker did).
  asio::awaitable<bool> pass_gate();

  bool spawn(std::string* error);
  // Reconfiguration, in run() only. restart_pending(): a request is waiting that needs a new
  // child (one that does not is taken at once, in place). take_settings(): at the top of run()'s
  // loop, where no child runs.
  bool restart_pending();
  std::string change_to(const settings& next) const;  // empty: `next` needs no new process
  void take_settings();
  void apply_in_place(settings s);
  void adopt(settings s, int model_index);
  void trial_succeeded();
  void trial_failed(const std::string& why);
  void set_state(process_state s);
  void move_to_next_model(const std::string& reason);
  void record_exit(const std::string& reason);
  void remember_output(std::string_view data);
  bool child_running() const noexcept { return child_ != nullptr && !child_exited_; }

  asio::any_io_executor ex_;
  settings settings_;
  observer on_change_;
  wake_event wake_;
  rotating_log log_;

  bool want_up_ = false;
  bool exit_when_stopped_ = false;
  bool retry_requested_ = false;  // start() was asked: leave `failed`
  std::string switch_requested_;  // non-empty: switch_to_next_model() was asked, with this reason
  std::string restart_requested_;  // non-empty: restart_for() was asked, with this reason
  std::string wedged_reason_;      // non-empty: declare_wedged() was asked, with this reason
  std::optional<clock::time_point> episode_started_;  // a url:/remote peer: when this wait for it began
  std::optional<std::pair<std::uint64_t, settings>> requested_settings_;  // reconfigure(), not taken yet
  std::uint64_t next_request_id_ = 1;
  reconfigure_status reconfig_;
  bool trial_ = false;                        // new settings are starting; they have not been ready yet
  std::optional<previous_settings> rollback_;  // what the trial replaced (none: the node was failed)
  std::string last_probe_error_;              // why the last GET /health failed ("connection refused")

  std::shared_ptr<boost::process::v2::process> child_;
  bool child_exited_ = false;
  int wait_status_ = 0;
  int drains_active_ = 0;
  clock::time_point spawned_at_{};
  clock::time_point ready_at_{};

  int quick_failures_ = 0;         // failures in a row that came before `stable_after`
  bool ready_with_model_ = false;  // the current model has reached ready at least once
  bool ever_spawned_ = false;

  std::deque<std::string> tail_;  // complete output lines, newest last
  std::string partial_line_;

  node_status status_;
};

}  // namespace openclawd::supervisor
