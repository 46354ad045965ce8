// Configuration reload (`openclawd reload`, SIGHUP): the daemon reads its YAML file again and
// applies what can change under a running daemon. An invalid file changes nothing and is
// recorded as rejected (file:line:col). The nodes' new settings go to the supervisor, whose
// owners restart only a node whose command line changed and roll it back if the new one does
// not come up; the gateway's clients then follow the nodes as they run. Sections that cannot
// change live are named in the outcome as taking effect at the next start: never silently.
// One reloader per daemon, on its io_context thread; one reload at a time, requests coalesce.
#pragma once

#include "core/config.hpp"
#include "gateway/llm_client.hpp"
#include "gateway/pipeline.hpp"
#include "net/asio.hpp"
#include "net/http_client.hpp"
#include "supervisor/model_process.hpp"
#include "supervisor/node_status.hpp"
#include "supervisor/supervisor.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::app {

// How the gateway reaches a node: 127.0.0.1:port for a node openclawd runs, the url's host
// and port for a `url:` node.
net::http_peer node_peer(const core::node_config& n);
// A node started with --api-key (in extra_args) wants it on every request but /health.
gateway::openai_client_options client_options_of(const core::node_config& n);
// The pipeline's view of a node: context per slot (with -np N llama-server splits ctx between
// the slots; without it they share one unified cache), slots, and the key of its model.
gateway::node_view node_view_of(const core::node_config& n, gateway::llm_client* client);

// What a reload does with the parts of the file outside the nodes' command lines.
struct section_changes {
  std::vector<std::string> applied;   // in effect now: "restart", "health", "logs", "nodes.subagent.fallbacks"
  std::vector<std::string> deferred;  // take effect at the next start: "state_dir", "search", "pipeline", ...
};
section_changes compare_sections(const core::config& running, const core::config& next);

// The outcome for people: "reload ok: subagent restarted (model: a.gguf → b.gguf)" and, with
// `detailed`, one line each for the reasons, what was applied and what waits for a start.
std::string describe_reload(const supervisor::reload_record& r, bool detailed);

class reloader {
 public:
  struct gateway_side {
    gateway::openai_client* orchestrator = nullptr;
    gateway::openai_client* subagent = nullptr;
    gateway::pipeline* pipeline = nullptr;
  };

  reloader(asio::any_io_executor ex, core::config running, supervisor::supervisor& sup, gateway_side gw);

  // A reload is wanted (SIGHUP). Requests that arrive while one runs are served together,
  // after it; before start() they wait (the nodes are still starting).
  void request();
  void start();  // serves requests from now on
  void stop();   // serves no more; a reload under way ends with the supervisor's stop
  // The configuration in effect (the nodes as the last reload left them).
  const core::config& running() const noexcept { return running_; }

 private:
  asio::awaitable<void> run();
  asio::awaitable<void> reload_once(std::int64_t requested_at_unix_ms);
  void follow_nodes(const core::config& now);

  asio::any_io_executor ex_;
  core::config running_;  // what is in effect (deferred sections keep their running values)
  supervisor::supervisor& sup_;
  gateway_side gw_;
  supervisor::wake_event wake_;
  std::optional<std::int64_t> pending_;  // the newest request not served yet (unix ms)
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace openclawd::app
