#include "app/admin_views.hpp"

#include "app/activity.hpp"

#include "core/log.hpp"
#include "supervisor/os.hpp"
#include "supervisor/preflight.hpp"
#include "supervisor/state_file.hpp"
#include "supervisor/supervisor.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <libproc.h>
#endif

namespace openclawd::app {
namespace {
using core::metric_type;

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

#if defined(__linux__)
// Boot time in seconds since the epoch: /proc/<pid>/stat dates processes in ticks since boot.
std::optional<double> boot_time_unix_s() {
  static const std::optional<double> btime = []() -> std::optional<double> {
    std::ifstream in("/proc/stat");
    std::string key;
    while (in >> key) {
      if (key == "btime") {
        double v = 0;
        if (in >> v) return v;
        return std::nullopt;
      }
      in.ignore(1 << 20, '\n');
    }
    return std::nullopt;
  }();
  return btime;
}
#endif

std::optional<std::uint64_t> resident_bytes(int pid) {
  if (pid <= 0) return std::nullopt;
#if defined(__linux__)
  // statm: "size resident shared text lib data dt", in pages. Read with plain open/read: an
  // ifstream costs more than the read itself, and a scrape reads three of these.
  const std::string path = "/proc/" + std::to_string(pid) + "/statm";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[128];
  const auto n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return std::nullopt;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
#elif defined(__APPLE__)
  struct proc_taskinfo info {};
  if (::proc_pidinfo(pid, PROC_PIDTASKINFO, 0, &info, sizeof info) != static_cast<int>(sizeof info))
    return std::nullopt;
  return info.pti_resident_size;
#else
  return std::nullopt;
#endif
}

// Rounds to `digits` decimals: measurements carry no more precision than that, and the
// exposition then reads "3.736" rather than "3.7360000610351562" (k / 10^d is the double
// nearest the decimal, which prints back short).
double decimals(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

std::string human_duration(double seconds) {
  auto s = static_cast<long long>(seconds < 0 ? 0 : seconds);
  char buf[48];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm %02llds", s / 60, s % 60);
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh %02lldm", s / 3600, s % 3600 / 60);
  else std::snprintf(buf, sizeof buf, "%lldd %02lldh", s / 86400, s % 86400 / 3600);
  return buf;
}

std::string fixed(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

constexpr std::array all_states{supervisor::process_state::stopped, supervisor::process_state::starting,
                                supervisor::process_state::ready,   supervisor::process_state::backoff,
                                supervisor::process_state::failed,  supervisor::process_state::stopping};

// Which node ran which part of a request: the pipeline decides on the orchestrator and
// answers on the subagent (gateway/pipeline.hpp).
const std::optional<gateway::llm_timings>& timings_of(const gateway::pipeline_stats& s, const std::string& node) {
  static const std::optional<gateway::llm_timings> none;
  if (node == "orchestrator") return s.last_decision;
  if (node == "subagent") return s.last_answer;
  return none;
}

}  // namespace

std::string admin_url(int port) { return "http://127.0.0.1:" + std::to_string(port) + "/"; }

std::string status_document(const supervisor::daemon_status& status, bool running, std::int64_t now_unix_ms,
                            int admin_port, const std::filesystem::path& state_dir) {
  auto j = nlohmann::json::parse(supervisor::status_json(status, running, now_unix_ms));
  j["daemon"]["admin_url"] = running && admin_port != 0 ? nlohmann::json(admin_url(admin_port)) : nlohmann::json();
  if (!state_dir.empty()) j["activity"] = activity_json(status, running, state_dir);
  return j.dump();
}

process_facts read_process_facts(int pid, std::optional<std::uint64_t> start_time) {
  process_facts f;
  if (pid <= 0) return f;
  f.resident_bytes = resident_bytes(pid);
  if (!start_time) start_time = supervisor::os::process_start_time(pid);
  if (!start_time) return f;
#if defined(__linux__)
  if (const auto boot = boot_time_unix_s())
    f.started_unix_s = *boot + static_cast<double>(*start_time) / static_cast<double>(::sysconf(_SC_CLK_TCK));
#elif defined(__APPLE__)
  f.started_unix_s = static_cast<double>(*start_time) / 1e6;  // microseconds since the epoch
#endif
  return f;
}

process_facts read_own_process_facts(std::int64_t started_at_unix_ms) {
  process_facts f;
  f.resident_bytes = resident_bytes(static_cast<int>(::getpid()));
  if (started_at_unix_ms > 0) f.started_unix_s = static_cast<double>(started_at_unix_ms) / 1000.0;
  return f;
}

std::optional<double> prompt_tokens_per_second(const gateway::llm_timings& t) {
  if (t.prompt_ms <= 0) return std::nullopt;
  return t.prompt_n * 1000.0 / t.prompt_ms;
}

std::optional<double> predicted_tokens_per_second(const gateway::llm_timings& t) {
  if (t.predicted_ms <= 0) return std::nullopt;
  return t.predicted_n * 1000.0 / t.predicted_ms;
}

std::optional<double> cache_reuse_ratio(const gateway::llm_timings& t) {
  const int total = t.cache_n + t.prompt_n;
  if (total <= 0) return std::nullopt;
  return static_cast<double>(t.cache_n) / total;
}

// --- metrics --------------------------------------------------------------------------------

void write_daemon_metrics(core::prometheus_writer& w, const supervisor::daemon_status& d, const process_facts& self,
                          std::int64_t now) {
  w.gauge("openclawd_build_info", "Always 1; the version is a label", 1, {{"version", OPENCLAWD_VERSION}});
  w.gauge("openclawd_daemon_start_time_seconds", "When the daemon started, seconds since the epoch",
          static_cast<double>(d.started_at_unix_ms) / 1000.0);
  w.gauge("openclawd_daemon_uptime_seconds", "Seconds since the daemon started",
          decimals(static_cast<double>(now - d.started_at_unix_ms) / 1000.0, 3));
  w.family("openclawd_daemon_resident_memory_bytes", metric_type::gauge, "The daemon's own resident memory (RSS)");
  if (self.resident_bytes)
    w.sample("openclawd_daemon_resident_memory_bytes", static_cast<double>(*self.resident_bytes));
}

void write_node_metrics(core::prometheus_writer& w, const supervisor::node_status& n, const process_facts& p,
                        std::int64_t now) {
  const std::string_view node = n.name;
  w.family("openclawd_node_state", metric_type::gauge,
           "1 for the node's current state, 0 for the others (stopped, starting, ready, backoff, failed, stopping)");
  for (const auto s : all_states)
    w.sample("openclawd_node_state", n.state == s ? 1 : 0, {{"node", node}, {"state", supervisor::to_string(s)}});
  w.gauge("openclawd_node_up", "1 while the node is ready (answers GET /health with 200)",
          n.state == supervisor::process_state::ready ? 1 : 0, {{"node", node}});
  w.counter("openclawd_node_restarts_total", "Respawns after a failure or a model switch since the daemon started",
            n.restarts, {{"node", node}});
  w.counter("openclawd_node_model_switches_total", "Switches to the next fallback model since the daemon started",
            n.switches, {{"node", node}});
  const std::string model = n.model.string();
  const std::string index = std::to_string(n.model_index);
  w.gauge("openclawd_node_model_info", "The model file the node runs (model_index 0 = model, N = fallback N)", 1,
          {{"node", node}, {"model", model}, {"model_index", index}});

  // The current child, when there is one.
  w.family("openclawd_node_start_time_seconds", metric_type::gauge,
           "When the node's current llama-server process started, seconds since the epoch");
  w.family("openclawd_node_uptime_seconds", metric_type::gauge, "Seconds since the node's current process started");
  w.family("openclawd_node_resident_memory_bytes", metric_type::gauge,
           "Resident memory (RSS) of the node's llama-server process");
  w.family("openclawd_node_ready_seconds", metric_type::gauge,
           "Seconds from spawning the current process (a url: node: from the first probe) to its first GET /health 200");
  w.family("openclawd_node_health_probe_seconds", metric_type::gauge,
           "Duration of the last GET /health probe (a timeout shows the timeout)");
  // A `url:` node has no process here, but its probes are timed all the same.
  const bool live = n.pid.has_value() || n.remote();
  if (live && n.ready_ms) w.sample("openclawd_node_ready_seconds", decimals(*n.ready_ms / 1000.0, 6), {{"node", node}});
  if (live && n.health_ms)
    w.sample("openclawd_node_health_probe_seconds", decimals(*n.health_ms / 1000.0, 6), {{"node", node}});
  if (!n.pid) return;
  if (p.started_unix_s) {
    w.sample("openclawd_node_start_time_seconds", *p.started_unix_s, {{"node", node}});
    w.sample("openclawd_node_uptime_seconds", decimals(static_cast<double>(now) / 1000.0 - *p.started_unix_s, 3),
             {{"node", node}});
  }
  if (p.resident_bytes)
    w.sample("openclawd_node_resident_memory_bytes", static_cast<double>(*p.resident_bytes), {{"node", node}});
}

void write_worker_metrics(core::prometheus_writer& w, const supervisor::node_status& r, const process_facts& p) {
  const std::string_view worker = r.name;
  w.family("openclawd_worker_state", metric_type::gauge,
           "1 for the RPC worker's current state, 0 for the others (stopped, starting, ready, backoff, failed, stopping)");
  for (const auto s : all_states)
    w.sample("openclawd_worker_state", r.state == s ? 1 : 0, {{"worker", worker}, {"state", supervisor::to_string(s)}});
  w.gauge("openclawd_worker_up", "1 while the RPC worker is ready (it answered the RPC handshake and is not stopped)",
          r.state == supervisor::process_state::ready ? 1 : 0, {{"worker", worker}});
  w.counter("openclawd_worker_restarts_total", "Respawns of the RPC worker after a failure since the daemon started",
            r.restarts, {{"worker", worker}});
  std::string used;
  for (const auto& u : r.used_by) used += (used.empty() ? "" : ",") + u;
  w.gauge("openclawd_worker_info", "Where the RPC worker listens and which nodes use it", 1,
          {{"worker", worker}, {"endpoint", r.endpoint}, {"used_by", used}, {"remote", r.remote() ? "true" : "false"}});
  w.family("openclawd_worker_resident_memory_bytes", metric_type::gauge,
           "Resident memory (RSS) of the RPC worker process: the layers it holds");
  if (r.pid && p.resident_bytes)
    w.sample("openclawd_worker_resident_memory_bytes", static_cast<double>(*p.resident_bytes), {{"worker", worker}});
}

void write_work_probe_metrics(core::prometheus_writer& w, std::initializer_list<const gateway::work_probe*> probes) {
  w.family("openclawd_node_work_probes_total", metric_type::counter,
           "1-token test completions sent to an idle node (its /health cannot tell a wedged backend)");
  w.family("openclawd_node_work_probe_failures_total", metric_type::counter,
           "Test completions that failed or missed their deadline");
  w.family("openclawd_node_work_probe_restarts_total", metric_type::counter,
           "Restarts because test completions failed health.failures times in a row");
  w.family("openclawd_node_work_probe_seconds", metric_type::gauge, "Duration of the last successful test completion");
  for (const auto* p : probes) {
    const auto& s = p->stats();
    w.sample("openclawd_node_work_probes_total", static_cast<double>(s.probes), {{"node", p->node()}});
    w.sample("openclawd_node_work_probe_failures_total", static_cast<double>(s.failed), {{"node", p->node()}});
    w.sample("openclawd_node_work_probe_restarts_total", static_cast<double>(s.restarts), {{"node", p->node()}});
    if (s.last_ms) w.sample("openclawd_node_work_probe_seconds", decimals(*s.last_ms / 1000.0, 6), {{"node", p->node()}});
  }
}

void write_kv_metrics(core::prometheus_writer& w, const gateway::kv_keeper& kv) {
  const auto& s = kv.stats();
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    w.counter(name, help, static_cast<double>(v), {{"node", kv.node()}});
  };
  counter("openclawd_kv_warmups_total", "Chats whose next prompt was evaluated while the user read the answer",
          s.warmups);
  counter("openclawd_kv_warmup_failures_total", "Warm-ups that failed (the next message evaluates it)",
          s.warmup_failures);
  counter("openclawd_kv_warm_tokens_total", "Prompt tokens evaluated by warm-ups, off the critical path",
          s.warm_tokens);
  counter("openclawd_kv_restores_total", "Chats brought back from their slot file instead of being read again",
          s.restores);
  counter("openclawd_kv_restore_failures_total", "Slot files the node refused (read again instead)",
          s.restore_failures);
  counter("openclawd_kv_restored_tokens_total", "Prompt tokens not evaluated again thanks to slot files",
          s.restored_tokens);
  counter("openclawd_kv_saves_total", "Slot files written", s.saves);
  counter("openclawd_kv_evictions_total", "Slot files deleted for the disk cap (slot_files_max)", s.evictions);
  w.gauge("openclawd_kv_file_bytes", "Disk used by slot files", static_cast<double>(s.file_bytes),
          {{"node", kv.node()}});
  w.gauge("openclawd_kv_files", "Slot files kept", static_cast<double>(s.files), {{"node", kv.node()}});
}

void write_pipeline_metrics(core::prometheus_writer& w, const gateway::pipeline_stats& s) {
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    w.counter(name, help, static_cast<double>(v));
  };
  counter("openclawd_pipeline_requests_total", "Messages handled to the end", s.requests);
  counter("openclawd_pipeline_answered_total", "Messages that got an answer", s.answered);
  counter("openclawd_pipeline_failed_total", "Messages that got an apology instead of an answer", s.failed);
  counter("openclawd_pipeline_searches_total", "Messages for which the orchestrator ran a web search", s.searches);
  counter("openclawd_pipeline_searches_unavailable_total",
          "Searches that were wanted but blocked or unavailable (answered without them)", s.searches_unavailable);
  counter("openclawd_pipeline_reads_total", "Messages for which the orchestrator asked to read the top results",
          s.reads);
  counter("openclawd_pipeline_pages_read_total", "Pages whose text was handed to the subagent", s.pages_read);
  counter("openclawd_pipeline_pages_failed_total", "Pages handed to the subagent as a one-line note instead",
          s.pages_failed);
  counter("openclawd_pipeline_cited_answers_total", "Answers that cited a page or search result", s.cited_answers);
  counter("openclawd_pipeline_compactions_total", "Conversation histories summarized to fit the context",
          s.compactions);
  counter("openclawd_pipeline_degenerate_total", "Answers aborted as degenerate output (e.g. endless <unused50>)",
          s.degenerate);
  counter("openclawd_pipeline_resumed_total", "Answers served from the store for a message seen before", s.resumed);
  w.gauge("openclawd_pipeline_in_flight", "Messages being handled now", s.in_flight);
  w.gauge("openclawd_queue_depth", "Messages waiting or in progress, per queue", s.in_flight, {{"queue", "pipeline"}});

  w.family("openclawd_node_prompt_tokens_per_second", metric_type::gauge,
           "Prompt processing speed of the node's last request in the pipeline (llama-server timings)");
  w.family("openclawd_node_predicted_tokens_per_second", metric_type::gauge,
           "Generation speed of the node's last request in the pipeline (llama-server timings)");
  w.family("openclawd_node_cache_reuse_ratio", metric_type::gauge,
           "Share of the node's last prompt taken from the slot's cache: cache_n / (cache_n + prompt_n)");
  for (const char* node : {"orchestrator", "subagent"}) {
    const auto& t = timings_of(s, node);
    if (!t) continue;
    if (auto v = prompt_tokens_per_second(*t))
      w.sample("openclawd_node_prompt_tokens_per_second", decimals(*v, 3), {{"node", node}});
    if (auto v = predicted_tokens_per_second(*t))
      w.sample("openclawd_node_predicted_tokens_per_second", decimals(*v, 3), {{"node", node}});
    if (auto v = cache_reuse_ratio(*t)) w.sample("openclawd_node_cache_reuse_ratio", decimals(*v, 6), {{"node", node}});
  }
}

void write_search_metrics(core::prometheus_writer& w, const tools::search_stats* s, double paused_s) {
  w.gauge("openclawd_search_enabled", "1 when the web-search tool is on", s ? 1 : 0);
  if (!s) return;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    w.counter(name, help, static_cast<double>(v));
  };
  counter("openclawd_search_requests_total", "Requests sent to DuckDuckGo", s->requests);
  // A request in flight is counted in requests but not yet in an outcome: clamp.
  const std::uint64_t ended = s->blocks + s->failures;
  counter("openclawd_search_successes_total", "Requests that returned a result page (possibly without results)",
          s->requests > ended ? s->requests - ended : 0);
  counter("openclawd_search_blocks_total", "Answers that were a block (202/403/429, bot challenge): search pauses",
          s->blocks);
  counter("openclawd_search_failures_total", "Network errors, timeouts and unusable answers", s->failures);
  counter("openclawd_search_cache_hits_total", "Queries answered from the cache", s->cache_hits);
  counter("openclawd_search_paused_total", "Queries refused without a request during a pause after a block",
          s->paused);
  counter("openclawd_search_refused_busy_total", "Queries that waited longer than max_wait for their turn",
          s->refused_busy);
  w.gauge("openclawd_search_paused_seconds", "Time left in the pause after a block (0: queries may go out)", paused_s);
}

void write_pages_metrics(core::prometheus_writer& w, const tools::web_reader* r) {
  w.gauge("openclawd_pages_enabled", "1 when the page-reading tool is on", r ? 1 : 0);
  if (!r) return;
  const auto& s = r->stats();
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    w.counter(name, help, static_cast<double>(v));
  };
  counter("openclawd_pages_requests_total", "Pages asked of a site (a page's redirects count once)", s.requests);
  counter("openclawd_pages_read_total", "Pages read (from the site or the cache)", s.ok);
  counter("openclawd_pages_cache_hits_total", "Pages answered from the cache", s.cache_hits);
  counter("openclawd_pages_bytes_total", "Body bytes read from sites", s.bytes);
  counter("openclawd_pages_gave_up_total", "Pages still under way at the message deadline (answered without them)",
          s.gave_up);
  w.family("openclawd_pages_failures_total", metric_type::counter,
           "Pages that came back as a one-line note, by reason (refused: a private address or blocked port)");
  for (const auto st : {tools::page_status::refused, tools::page_status::blocked, tools::page_status::paused,
                        tools::page_status::timeout, tools::page_status::too_large, tools::page_status::unsupported,
                        tools::page_status::needs_javascript, tools::page_status::http_error,
                        tools::page_status::failed}) {
    const auto it = s.failures.find(st);
    w.sample("openclawd_pages_failures_total", static_cast<double>(it == s.failures.end() ? 0 : it->second),
             {{"reason", std::string(tools::to_string(st))}});
  }
  w.gauge("openclawd_pages_hosts_paused", "Hosts left alone after blocking us (circuit breaker open)",
          r->hosts_paused());
  w.gauge("openclawd_pages_last_fetch_seconds", "Fetch time of the last page read from a site",
          std::chrono::duration<double>(s.last_fetch).count());
  w.gauge("openclawd_pages_last_extract_seconds", "Text extraction time of the last page read from a site",
          std::chrono::duration<double>(s.last_extract).count());
}

telegram_metrics telegram_metrics_of(const gateway::telegram::channel_stats& s,
                                     std::chrono::steady_clock::time_point now) {
  telegram_metrics t;
  if (s.last_poll_completed != std::chrono::steady_clock::time_point{})
    t.poll_lag_s = std::chrono::duration<double>(now - s.last_poll_completed).count();
  t.updates_received = s.updates_received;
  t.replies_sent = s.messages_handled;
  t.send_failures = s.send_failures;
  t.pending = static_cast<int>(s.queued);
  return t;
}

void write_telegram_metrics(core::prometheus_writer& w, const telegram_metrics& t) {
  w.family("openclawd_telegram_poll_lag_seconds", metric_type::gauge,
           "Seconds since the last completed getUpdates long poll");
  if (t.poll_lag_s) w.sample("openclawd_telegram_poll_lag_seconds", *t.poll_lag_s);
  w.counter("openclawd_telegram_updates_received_total", "Updates received from getUpdates",
            static_cast<double>(t.updates_received));
  w.counter("openclawd_telegram_replies_sent_total", "Replies finished: answers, refusals, command replies",
            static_cast<double>(t.replies_sent));
  w.counter("openclawd_telegram_send_failures_total", "Reply parts given up on after retries",
            static_cast<double>(t.send_failures));
  w.gauge("openclawd_queue_depth", "Messages waiting or in progress, per queue", t.pending, {{"queue", "telegram"}});
}

page_section telegram_page_section(const telegram_metrics& t) {
  return {"Telegram",
          {{"last getUpdates", t.poll_lag_s ? human_duration(*t.poll_lag_s) + " ago" : std::string("not yet")},
           {"updates received", std::to_string(t.updates_received)},
           {"replies sent", std::to_string(t.replies_sent)},
           {"send failures", std::to_string(t.send_failures)},
           {"pending", std::to_string(t.pending)}}};
}

// --- the HTML page --------------------------------------------------------------------------

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
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

std::string render_status_page(const status_page_data& d, const std::vector<page_section>& extra) {
  const double now_s = static_cast<double>(d.now_unix_ms) / 1000.0;
  auto bytes = [](const std::optional<std::uint64_t>& b) {
    return b ? supervisor::format_bytes(*b) : std::string("-");
  };
  std::ostringstream o;
  auto esc = [](std::string_view s) { return html_escape(s); };
  auto table = [&](const std::string& title, const std::vector<std::pair<std::string, std::string>>& rows) {
    o << "<h2>" << esc(title) << "</h2>\n<table>\n";
    for (const auto& [k, v] : rows) o << "<tr><th>" << esc(k) << "</th><td>" << esc(v) << "</td></tr>\n";
    o << "</table>\n";
  };

  o << "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta http-equiv=\"refresh\" content=\"5\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       "<title>openclawd</title>\n<style>\n"
       "body{font:14px/1.4 -apple-system,system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
       "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\n"
       "table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:.3em .6em;"
       "text-align:left;vertical-align:top}\nth{background:#f0f0f0;font-weight:600}\n"
       "td.path{font-family:ui-monospace,Menlo,monospace;word-break:break-all;max-width:36em}\n"
       ".ready{color:#070;font-weight:600}.failed{color:#b00;font-weight:600}.backoff,.starting,.stopping{color:#a60;"
       "font-weight:600}.stopped{color:#666}\n.meta{color:#555}\n"
       "</style>\n</head>\n<body>\n<h1>openclawd</h1>\n";
  o << "<p class=\"meta\">pid " << d.daemon.pid << " &middot; up "
    << esc(human_duration(now_s - static_cast<double>(d.daemon.started_at_unix_ms) / 1000.0)) << " &middot; memory "
    << esc(bytes(d.daemon_process.resident_bytes)) << " &middot; config <code>" << esc(d.daemon.config)
    << "</code><br>as of " << esc(core::utc_timestamp()) << ", refreshed every 5 s</p>\n";

  o << "<h2>Nodes</h2>\n<table>\n<tr><th></th>";
  for (const auto& n : d.daemon.nodes) o << "<th>" << esc(n.name) << "</th>";
  o << "</tr>\n";
  // One row per fact, one column per node: both nodes side by side at a glance.
  auto row = [&](std::string_view label, auto&& cell, const char* cls = nullptr) {
    o << "<tr><th>" << esc(label) << "</th>";
    for (std::size_t i = 0; i < d.daemon.nodes.size(); ++i) {
      const std::string text = cell(d.daemon.nodes[i], i);
      if (cls) o << "<td class=\"" << cls << "\">";
      else o << "<td>";
      o << esc(text) << "</td>";
    }
    o << "</tr>\n";
  };
  using node = supervisor::node_status;
  o << "<tr><th>state</th>";
  for (const auto& n : d.daemon.nodes) {
    const auto s = supervisor::to_string(n.state);
    o << "<td class=\"" << s << "\">" << s << "</td>";
  }
  o << "</tr>\n";
  row("model", [](const node& n, std::size_t) { return n.model.string(); }, "path");
  row("model index", [](const node& n, std::size_t) {
    return n.model_index == 0 ? std::string("0 (model)") : std::to_string(n.model_index) + " (fallback)";
  });
  row("pid", [](const node& n, std::size_t) { return n.pid ? std::to_string(*n.pid) : std::string("-"); });
  row("url", [](const node& n, std::size_t) { return n.url(); });
  row("uptime", [&](const node& n, std::size_t i) {
    const auto& p = i < d.node_processes.size() ? d.node_processes[i] : process_facts{};
    return n.pid && p.started_unix_s ? human_duration(now_s - *p.started_unix_s) : std::string("-");
  });
  row("restarts", [](const node& n, std::size_t) { return std::to_string(n.restarts); });
  row("memory (RSS)", [&](const node& n, std::size_t i) {
    return n.pid && i < d.node_processes.size() ? bytes(d.node_processes[i].resident_bytes) : std::string("-");
  });
  row("ready after", [](const node& n, std::size_t) {
    return (n.pid || n.remote()) && n.ready_ms ? fixed(*n.ready_ms / 1000.0, 2) + " s" : std::string("-");
  });
  row("health probe", [](const node& n, std::size_t) {
    return (n.pid || n.remote()) && n.health_ms ? fixed(*n.health_ms, 1) + " ms" : std::string("-");
  });
  auto timing = [&](const node& n) -> std::optional<gateway::llm_timings> {
    if (!d.pipeline) return std::nullopt;
    return timings_of(*d.pipeline, n.name);
  };
  row("prompt tokens/s", [&](const node& n, std::size_t) {
    const auto t = timing(n);
    const auto v = t ? prompt_tokens_per_second(*t) : std::nullopt;
    return v ? fixed(*v, 1) : std::string("-");
  });
  row("predicted tokens/s", [&](const node& n, std::size_t) {
    const auto t = timing(n);
    const auto v = t ? predicted_tokens_per_second(*t) : std::nullopt;
    return v ? fixed(*v, 1) : std::string("-");
  });
  row("cache reuse", [&](const node& n, std::size_t) {
    const auto t = timing(n);
    const auto v = t ? cache_reuse_ratio(*t) : std::nullopt;
    return v ? fixed(*v * 100.0, 0) + " % (" + std::to_string(t->cache_n) + " of " +
                   std::to_string(t->cache_n + t->prompt_n) + " tokens)"
             : std::string("-");
  });
  row("chat template", [](const node& n, std::size_t) {
    if (n.chat_template.empty()) return std::string("-");
    return n.chat_template + (n.chat_template_problem.empty() ? "" : ": " + n.chat_template_problem);
  });
  row("last switch", [](const node& n, std::size_t) {
    if (n.switch_reason.empty()) return std::string("-");
    return n.switched_at + ": from " + n.switched_from.string() + ": " + n.switch_reason;
  });
  row("last exit", [](const node& n, std::size_t) {
    if (!n.last_exit) return std::string("-");
    return n.last_exit->at + ": " + n.last_exit->description + " (" + n.last_exit->reason + ")";
  });
  row("error", [](const node& n, std::size_t) { return n.error.empty() ? std::string("-") : n.error; });
  o << "</table>\n";

  if (!d.daemon.workers.empty()) {
    o << "<h2>RPC workers</h2>\n<table>\n<tr><th>worker</th><th>state</th><th>pid</th><th>endpoint</th>"
         "<th>used by</th><th>restarts</th><th>memory (RSS)</th><th>last exit</th><th>error</th></tr>\n";
    for (const auto& r : d.daemon.workers) {
      const auto st = supervisor::to_string(r.state);
      std::string used;
      for (const auto& u : r.used_by) used += (used.empty() ? "" : ", ") + u;
      const auto facts = read_process_facts(r.pid.value_or(0), r.pid_start_time);
      o << "<tr><th>" << esc(r.name) << "</th><td class=\"" << st << "\">" << st << "</td><td>"
        << esc(r.remote() ? std::string("remote") : r.pid ? std::to_string(*r.pid) : std::string("-")) << "</td><td>"
        << esc(r.endpoint) << "</td><td>" << esc(used) << "</td><td>" << r.restarts << "</td><td>"
        << esc(r.pid ? bytes(facts.resident_bytes) : std::string("-")) << "</td><td>"
        << esc(r.last_exit ? r.last_exit->at + ": " + r.last_exit->description + " (" + r.last_exit->reason + ")"
                           : std::string("-"))
        << "</td><td>" << esc(r.error.empty() ? std::string("-") : r.error) << "</td></tr>\n";
    }
    o << "</table>\n";
  }

  if (d.pipeline) {
    const auto& p = *d.pipeline;
    table("Pipeline", {{"messages handled", std::to_string(p.requests)},
                       {"answered", std::to_string(p.answered)},
                       {"failed", std::to_string(p.failed)},
                       {"in flight", std::to_string(p.in_flight)},
                       {"searches", std::to_string(p.searches)},
                       {"searches unavailable", std::to_string(p.searches_unavailable)},
                       {"pages read / not read", std::to_string(p.pages_read) + " / " + std::to_string(p.pages_failed)},
                       {"answers with citations", std::to_string(p.cited_answers)},
                       {"compactions", std::to_string(p.compactions)},
                       {"degenerate answers", std::to_string(p.degenerate)},
                       {"resumed", std::to_string(p.resumed)}});
  }
  if (d.search) {
    const auto& s = *d.search;
    table("Web search", {{"requests", std::to_string(s.requests)},
                         {"blocks", std::to_string(s.blocks)},
                         {"failures", std::to_string(s.failures)},
                         {"cache hits", std::to_string(s.cache_hits)},
                         {"refused while paused", std::to_string(s.paused)},
                         {"refused, busy", std::to_string(s.refused_busy)}});
  } else {
    o << "<h2>Web search</h2>\n<p>off</p>\n";
  }
  if (d.pages) {
    const auto& s = *d.pages;
    std::string failures;
    for (const auto& [st, n] : s.failures) {
      if (!failures.empty()) failures += ", ";
      failures += std::string(tools::to_string(st)) + " " + std::to_string(n);
    }
    table("Page reading", {{"pages asked of sites", std::to_string(s.requests)},
                           {"read", std::to_string(s.ok)},
                           {"cache hits", std::to_string(s.cache_hits)},
                           {"not read", failures.empty() ? std::string("none") : failures},
                           {"given up at the message deadline", std::to_string(s.gave_up)},
                           {"hosts paused after blocking us", std::to_string(d.pages_hosts_paused)},
                           {"last fetch / extract", std::to_string(s.last_fetch.count()) + " ms / " +
                                                        std::to_string(s.last_extract.count()) + " ms"}});
  } else {
    o << "<h2>Page reading</h2>\n<p>off</p>\n";
  }
  for (const auto& s : extra) table(s.title, s.rows);
  o << "<p class=\"meta\"><a href=\"/status\">/status</a> (JSON) &middot; <a href=\"/metrics\">/metrics</a> "
       "(Prometheus) &middot; openclawd " OPENCLAWD_VERSION "</p>\n</body>\n</html>\n";
  return o.str();
}

// --- wiring ---------------------------------------------------------------------------------

void install_admin_views(admin_server& server, const admin_sources& sources) {
  const admin_sources src = sources;
  server.set_status([src] { return status_document(src.sup.snapshot(), true, now_unix_ms(), src.port, src.state_dir); });
  server.add_collector([src](core::prometheus_writer& w) {
    const auto d = src.sup.snapshot();
    const auto now = now_unix_ms();
    write_daemon_metrics(w, d, read_own_process_facts(d.started_at_unix_ms), now);
    for (const auto& n : d.nodes)
      write_node_metrics(w, n, read_process_facts(n.pid.value_or(0), n.pid_start_time), now);
    for (const auto& r : d.workers)
      write_worker_metrics(w, r, read_process_facts(r.pid.value_or(0), r.pid_start_time));
  });
  if (src.pipeline)
    server.add_collector([src](core::prometheus_writer& w) { write_pipeline_metrics(w, src.pipeline->stats()); });
  server.add_collector([src](core::prometheus_writer& w) {
    const double paused = src.search ? std::chrono::duration<double>(src.search->paused_for()).count() : 0.0;
    write_search_metrics(w, src.search ? &src.search->stats() : nullptr, paused);
    write_pages_metrics(w, src.pages);
  });
  server.add_collector([&server](core::prometheus_writer& w) {
    const auto& s = server.stats();
    w.gauge("openclawd_admin_connections", "Open connections to this endpoint", s.connections);
    w.counter("openclawd_admin_requests_total", "Requests this endpoint has read", static_cast<double>(s.requests));
    w.family("openclawd_admin_refused_total", metric_type::counter,
             "Connections or requests refused: reason=peer (not loopback, or a foreign Host), reason=limit "
             "(max_connections)");
    w.sample("openclawd_admin_refused_total", static_cast<double>(s.refused_peers), {{"reason", "peer"}});
    w.sample("openclawd_admin_refused_total", static_cast<double>(s.refused_connections), {{"reason", "limit"}});
  });
  server.set_page([src](const std::vector<page_section>& extra) {
    status_page_data d;
    d.daemon = src.sup.snapshot();
    d.now_unix_ms = now_unix_ms();
    d.daemon_process = read_own_process_facts(d.daemon.started_at_unix_ms);
    for (const auto& n : d.daemon.nodes)
      d.node_processes.push_back(read_process_facts(n.pid.value_or(0), n.pid_start_time));
    if (src.pipeline) d.pipeline = src.pipeline->stats();
    if (src.search) d.search = src.search->stats();
    if (src.pages) {
      d.pages = src.pages->stats();
      d.pages_hosts_paused = src.pages->hosts_paused();
    }
    auto sections = extra;
    if (!src.state_dir.empty()) {
      auto rows = activity_rows(activity_json(d.daemon, true, src.state_dir));
      if (!rows.empty()) sections.insert(sections.begin(), page_section{"In progress", std::move(rows)});
    }
    return render_status_page(d, sections);
  });
}

std::unique_ptr<admin_server> start_admin_endpoint(asio::any_io_executor ex, const core::config& cfg,
                                                   const admin_sources& sources) {
  if (cfg.admin.port == 0) return nullptr;
  auto server = std::make_unique<admin_server>(ex, cfg.admin.port);
  admin_sources src = sources;
  src.port = cfg.admin.port;
  install_admin_views(*server, src);
  if (auto problem = server->start(); !problem.empty()) {
    core::log_error("daemon", "the admin endpoint is off: " + problem);
    return nullptr;
  }
  core::log_info("daemon", "admin endpoint at " + admin_url(cfg.admin.port) + " (/status, /metrics)");
  return server;
}

}  // namespace openclawd::app
