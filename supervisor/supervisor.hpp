// Owns the two model_process objects (orchestrator, subagent) and the RPC workers they use for the daemon's life,
// runs their owner coroutines, and announces every transition by rewriting
// state.json atomically. Lives on the daemon's single io_context thread.
#pragma once

#include "core/config.hpp"
#include "net/asio.hpp"
#include "supervisor/model_process.hpp"
#include "supervisor/node_status.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::supervisor {

struct startup_outcome {
  bool ok = false;
  bool aborted = false;  // a stop was requested before every node was ready
  std::string node;      // the node that failed
  std::string error;     // why, with the last lines of its log
};

class supervisor {
 public:
  struct options {
    bool parent_death_signal = true;  // see model_process::settings
  };
  using transition_observer = std::function<void(const node_status&)>;

  supervisor(asio::any_io_executor ex, const core::config& cfg, daemon_status identity,
             std::filesystem::path state_file, options opts);
  ~supervisor();

  void start_all();
  // Completes when every node is ready, when one reached `failed`, or when request_stop() is called.
  asio::awaitable<startup_outcome> wait_until_started();
  void request_stop();
  // Stops every node at once (each with its own stop ladder) and waits for their owners to end.
  asio::awaitable<void> shutdown();
  void kill_now();  // SIGKILL every child now (second signal)
  // Moves `node` to its next fallback model because of `reason`, and completes when it is
  // ready on that model (true), or when that failed, there was no next model, or `timeout`
  // passed (false). The pipeline calls this on a degeneration strike.
  asio::awaitable<bool> switch_model(std::string node, std::string reason, std::chrono::milliseconds timeout);
  // `node` answers /health but does no work: restart it as a failure (model_process::declare_wedged).
  void declare_wedged(const std::string& node, std::string reason);
  // Asks every node in `failed` to start over from its first model; returns their names.
  std::vector<std::string> retry_failed();
  // A reloaded configuration: each node's owner is asked to take its new settings
  // (model_process::reconfigure). Nodes whose command line changed restart with them, and go
  // back to their previous settings if those do not become ready; the others keep their
  // process. `record` (requested_at, applied, deferred: the app's part) is completed with
  // each node's result and the outcome, announced in state.json as it goes, and returned once
  // every changed node is ready again (or failed, or the wait ran out, or a stop came).
  // One reload at a time: the caller serializes them.
  asio::awaitable<reload_record> reload(const core::config& next, reload_record record);
  // Records (and announces) a reload that was decided without the nodes: a rejected file.
  void record_reload(reload_record record);

  // What `node`'s chat template accepts while it runs `model` (the app probes it at every
  // ready): shown in status and state.json while the node runs that model.
  void set_chat_template(const std::string& node, const std::filesystem::path& model, std::string summary,
                         std::string problem);

  daemon_status snapshot() const;
  void set_observer(transition_observer o) { observer_ = std::move(o); }
  // Transitions of RPC workers (not of nodes: a worker has no chat template, no KV).
  void set_worker_observer(transition_observer o) { worker_observer_ = std::move(o); }

 private:
  void on_transition(const node_status& s);
  void announce();
  model_process::settings settings_for(const core::config& cfg, const core::node_config& node) const;
  model_process::settings settings_for_worker(const core::config& cfg, const core::worker_config& w) const;
  // The gate of a node that uses `workers` (model_process::settings::gate).
  std::string worker_gate(const std::vector<std::string>& workers) const;
  void on_worker_transition(const node_status& s);

  asio::any_io_executor ex_;
  daemon_status identity_;
  std::filesystem::path state_file_;
  std::filesystem::path log_dir_;  // from the first config: a reload does not move state_dir
  options options_;
  std::vector<std::unique_ptr<model_process>> nodes_;
  // RPC workers, started before and stopped after the nodes; a reload adds, restarts (with
  // the nodes that use them) and removes them.
  std::vector<std::unique_ptr<model_process>> workers_;
  std::map<std::string, process_state> worker_states_;  // the last state seen, to notice a loss
  // Workers a reload removed: stopping, kept alive until their owner coroutine has returned.
  std::vector<std::unique_ptr<model_process>> retired_workers_;
  void run_owner(model_process& p);
  wake_event changed_;
  int running_ = 0;
  bool stop_requested_ = false;
  std::optional<reload_record> last_reload_;
  struct template_note {
    std::filesystem::path model;
    std::string summary, problem;
  };
  std::map<std::string, template_note> templates_;  // by node name
  transition_observer observer_;
  transition_observer worker_observer_;
};

}  // namespace openclawd::supervisor
