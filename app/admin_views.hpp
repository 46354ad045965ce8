// What the admin endpoint (app/admin_server.hpp) shows, and where each number comes from:
// the supervisor's live snapshot (nodes, the daemon), the pipeline's and the web search's
// counters, and the processes themselves (resident memory, start time, from /proc on Linux
// and proc_pidinfo/sysctl on macOS). The writers below are plain functions of plain values,
// so tests can feed them any state; install_admin_views() wires them to the live objects,
// one metrics collector per source. The JSON of GET /status is status_document(), which
// `openclawd status --json` prints too. Runs on the daemon's thread; reads only.
#pragma once

#include "app/admin_server.hpp"
#include "core/config.hpp"
#include "core/prometheus.hpp"
#include "gateway/pipeline.hpp"
#include "gateway/work_probe.hpp"
#include "gateway/telegram/channel.hpp"
#include "supervisor/node_status.hpp"
#include "tools/web_reader.hpp"
#include "tools/web_search.hpp"

#include <chrono>
#include <initializer_list>
#include <cstdint>
#include <memory>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::supervisor {
class supervisor;
}

namespace openclawd::app {

// "http://127.0.0.1:8090/"
std::string admin_url(int port);

// supervisor::status_json() plus "admin_url" in "daemon" (null when the endpoint is off or
// the daemon is down). Both `status --json` and GET /status print exactly this.
// With a state_dir, also "activity": a pull or a node load in progress (app/activity.hpp).
std::string status_document(const supervisor::daemon_status& status, bool running, std::int64_t now_unix_ms,
                            int admin_port, const std::filesystem::path& state_dir = {});

struct process_facts {
  std::optional<std::uint64_t> resident_bytes;  // RSS
  std::optional<double> started_unix_s;         // wall-clock start, seconds since the epoch
};
// `start_time` is supervisor::os::process_start_time()'s value for the pid (from node_status):
// only used to date the process. nullopt facts when the process is gone or the OS says nothing.
process_facts read_process_facts(int pid, std::optional<std::uint64_t> start_time);
process_facts read_own_process_facts(std::int64_t started_at_unix_ms);

// The Telegram channel's numbers, for its collector (the channel fills this in).
struct telegram_metrics {
  std::optional<double> poll_lag_s;  // since the last completed getUpdates; nullopt before the first
  std::uint64_t updates_received = 0;
  std::uint64_t replies_sent = 0;
  std::uint64_t send_failures = 0;
  int pending = 0;  // messages received and not answered yet (the channel's queue)
};

void write_daemon_metrics(core::prometheus_writer& w, const supervisor::daemon_status& d, const process_facts& self,
                          std::int64_t now_unix_ms);
void write_node_metrics(core::prometheus_writer& w, const supervisor::node_status& n, const process_facts& p,
                        std::int64_t now_unix_ms);
// An RPC worker's state, restarts, endpoint and memory (labels: worker).
void write_worker_metrics(core::prometheus_writer& w, const supervisor::node_status& r, const process_facts& p);
// Counters, queue depth, and per node the last request's tokens/s and cache reuse
// (the decision ran on the orchestrator, the answer on the subagent).
void write_pipeline_metrics(core::prometheus_writer& w, const gateway::pipeline_stats& s);
// The idle nodes' test completions (gateway/work_probe.hpp), per node.
void write_work_probe_metrics(core::prometheus_writer& w, std::initializer_list<const gateway::work_probe*> probes);
// The orchestrator's KV keeper: warm-ups, slot files (gateway/kv_keeper.hpp).
void write_kv_metrics(core::prometheus_writer& w, const gateway::kv_keeper& kv);
// `s` null: search is off (only openclawd_search_enabled 0).
void write_search_metrics(core::prometheus_writer& w, const tools::search_stats* s, double paused_s);
// From the channel's own counters: replies = messages handled, pending = queued.
telegram_metrics telegram_metrics_of(const gateway::telegram::channel_stats& s,
                                     std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
void write_telegram_metrics(core::prometheus_writer& w, const telegram_metrics& t);
page_section telegram_page_section(const telegram_metrics& t);

// Per-request numbers derived from llama-server's `timings`; nullopt when undefined (0 ms).
std::optional<double> prompt_tokens_per_second(const gateway::llm_timings& t);
std::optional<double> predicted_tokens_per_second(const gateway::llm_timings& t);
std::optional<double> cache_reuse_ratio(const gateway::llm_timings& t);  // cache_n / (cache_n + prompt_n)

struct status_page_data {
  supervisor::daemon_status daemon;
  process_facts daemon_process;
  std::vector<process_facts> node_processes;  // daemon.nodes' order
  std::optional<gateway::pipeline_stats> pipeline;
  std::optional<tools::search_stats> search;  // nullopt: search is off
  std::optional<tools::reader_stats> pages;   // nullopt: page reading is off
  int pages_hosts_paused = 0;
  std::int64_t now_unix_ms = 0;
};
// A complete HTML document: no scripts, no external assets, every value escaped.
std::string render_status_page(const status_page_data& d, const std::vector<page_section>& extra = {});
std::string html_escape(std::string_view text);

struct admin_sources {
  const supervisor::supervisor& sup;
  const gateway::pipeline* pipeline = nullptr;  // null: no pipeline counters
  const tools::web_search* search = nullptr;    // null: search is off
  const tools::web_reader* pages = nullptr;     // null: page reading is off
  int port = 0;
  std::filesystem::path state_dir;  // for the activity (pull.json, node logs); empty: none shown
};
// Registers GET /status, the page, and one collector per source (daemon + nodes, pipeline,
// search, the endpoint itself). Others add theirs with admin_server::add_collector().
void install_admin_views(admin_server& server, const admin_sources& sources);

// For the daemon: nullptr when admin.port is 0, or when the port cannot be bound (logged:
// the daemon carries on without the endpoint).
std::unique_ptr<admin_server> start_admin_endpoint(asio::any_io_executor ex, const core::config& cfg,
                                                   const admin_sources& sources);

}  // namespace openclawd::app
