#include "supervisor/state_file.hpp"

#include "supervisor/os.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace openclawd::supervisor {
namespace {

using nlohmann::json;

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json exit_to_json(const std::optional<exit_record>& e) {
  if (!e) return nullptr;
  return json{{"code", opt(e->code)},
              {"signal", e->signal ? json(os::signal_name(*e->signal)) : json(nullptr)},
              {"signal_number", opt(e->signal)},
              {"description", e->description},
              {"reason", e->reason},
              {"at", e->at}};
}

std::optional<exit_record> exit_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  exit_record e;
  if (j.contains("code") && j["code"].is_number_integer()) e.code = j["code"].get<int>();
  if (j.contains("signal_number") && j["signal_number"].is_number_integer()) e.signal = j["signal_number"].get<int>();
  e.description = j.value("description", "");
  e.reason = j.value("reason", "");
  e.at = j.value("at", "");
  return e;
}

json reload_to_json(const std::optional<reload_record>& r) {
  if (!r) return nullptr;
  json nodes = json::array();
  for (const auto& n : r->nodes)
    nodes.push_back({{"node", n.node}, {"change", n.change}, {"result", n.result},
                     {"reason", n.reason.empty() ? json(nullptr) : json(n.reason)}});
  return json{{"requested_at_unix_ms", r->requested_at_unix_ms},
              {"requested_at", r->requested_at},
              {"finished_at", r->finished_at.empty() ? json(nullptr) : json(r->finished_at)},
              {"outcome", r->outcome},
              {"reason", r->reason.empty() ? json(nullptr) : json(r->reason)},
              {"nodes", std::move(nodes)},
              {"applied", r->applied},
              {"deferred", r->deferred}};
}

std::optional<reload_record> reload_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  reload_record r;
  r.requested_at_unix_ms = j.value("requested_at_unix_ms", std::int64_t{0});
  r.requested_at = j.value("requested_at", "");
  if (j.contains("finished_at") && j["finished_at"].is_string()) r.finished_at = j["finished_at"].get<std::string>();
  r.outcome = j.value("outcome", "");
  if (j.contains("reason") && j["reason"].is_string()) r.reason = j["reason"].get<std::string>();
  if (j.contains("nodes") && j["nodes"].is_array()) {
    for (const auto& n : j["nodes"]) {
      if (!n.is_object()) continue;
      reload_record::node_change c{n.value("node", ""), n.value("change", ""), n.value("result", ""), ""};
      if (n.contains("reason") && n["reason"].is_string()) c.reason = n["reason"].get<std::string>();
      r.nodes.push_back(std::move(c));
    }
  }
  for (const char* key : {"applied", "deferred"}) {
    if (!j.contains(key) || !j[key].is_array()) continue;
    auto& out = std::string_view(key) == "applied" ? r.applied : r.deferred;
    for (const auto& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return r;
}

json node_to_json(const node_status& n, bool running) {
  json j{{"state", running ? std::string(to_string(n.state)) : std::string("stopped")},
         {"pid", running ? opt(n.pid) : json(nullptr)},
         {"port", n.port},
         {"url", n.url()},
         {"remote", n.remote()},
         {"model", n.model.string()},
         {"model_index", n.model_index},
         {"restarts", n.restarts},
         {"last_exit", exit_to_json(n.last_exit)},
         {"since", n.since},
         {"error", n.error.empty() ? json(nullptr) : json(n.error)}};
  if (running && n.state == process_state::backoff && !n.retry_at.empty()) j["retry_at"] = n.retry_at;
  if (running && n.ready_ms) j["ready_ms"] = *n.ready_ms;
  j["template"] = n.chat_template.empty() ? json(nullptr)
                                          : json{{"summary", n.chat_template},
                                                 {"problem", n.chat_template_problem.empty()
                                                                 ? json(nullptr)
                                                                 : json(n.chat_template_problem)}};
  j["switched"] = n.switch_reason.empty() ? json(nullptr)
                                          : json{{"reason", n.switch_reason},
                                                 {"at", n.switched_at},
                                                 {"from", n.switched_from.string()}};
  return j;
}

json worker_to_json(const node_status& w, bool running) {
  json j{{"state", running ? std::string(to_string(w.state)) : std::string("stopped")},
         {"pid", running ? opt(w.pid) : json(nullptr)},
         {"endpoint", w.endpoint},
         {"remote", w.remote()},
         {"used_by", w.used_by},
         {"rpc_version", w.rpc_version.empty() ? json(nullptr) : json(w.rpc_version)},
         {"restarts", w.restarts},
         {"last_exit", exit_to_json(w.last_exit)},
         {"since", w.since},
         {"error", w.error.empty() ? json(nullptr) : json(w.error)}};
  if (running && w.state == process_state::backoff && !w.retry_at.empty()) j["retry_at"] = w.retry_at;
  if (running && w.ready_ms) j["ready_ms"] = *w.ready_ms;
  return j;
}

node_status worker_from_json(const std::string& name, const json& j) {
  node_status w;
  w.name = name;
  w.state = process_state_from_string(j.value("state", "stopped")).value_or(process_state::stopped);
  if (j.contains("pid") && j["pid"].is_number_integer()) w.pid = j["pid"].get<int>();
  if (j.contains("pid_start_time") && j["pid_start_time"].is_number_unsigned())
    w.pid_start_time = j["pid_start_time"].get<std::uint64_t>();
  w.endpoint = j.value("endpoint", "");
  if (j.value("remote", false)) w.remote_url = w.endpoint;
  if (j.contains("used_by") && j["used_by"].is_array())
    for (const auto& u : j["used_by"])
      if (u.is_string()) w.used_by.push_back(u.get<std::string>());
  if (j.contains("rpc_version") && j["rpc_version"].is_string()) w.rpc_version = j["rpc_version"].get<std::string>();
  w.restarts = j.value("restarts", 0);
  if (j.contains("last_exit")) w.last_exit = exit_from_json(j["last_exit"]);
  if (j.contains("error") && j["error"].is_string()) w.error = j["error"].get<std::string>();
  w.since = j.value("since", "");
  w.retry_at = j.value("retry_at", "");
  if (j.contains("ready_ms") && j["ready_ms"].is_number()) w.ready_ms = j["ready_ms"].get<double>();
  return w;
}

}  // namespace

result<void> write_state_file(const std::filesystem::path& file, const daemon_status& status) {
  json nodes = json::object();
  for (const auto& n : status.nodes) {
    json j = node_to_json(n, true);
    j["name"] = n.name;
    j["pid_start_time"] = opt(n.pid_start_time);
    j["retry_at"] = n.retry_at;
    nodes[n.name] = std::move(j);
  }
  // An array, in config order: the order `status` shows them in.
  json workers = json::array();
  for (const auto& w : status.workers) {
    json j = worker_to_json(w, true);
    j["name"] = w.name;
    j["pid_start_time"] = opt(w.pid_start_time);
    j["retry_at"] = w.retry_at;
    workers.push_back(std::move(j));
  }
  const json doc{{"version", 1},
                 {"daemon",
                  {{"pid", status.pid},
                   {"started_at_unix_ms", status.started_at_unix_ms},
                   {"started_at", status.started_at},
                   {"config", status.config}}},
                 {"nodes", std::move(nodes)},
                 {"workers", std::move(workers)},
                 {"last_reload", reload_to_json(status.last_reload)}};
  const std::string text = doc.dump(2) + "\n";

  // Write a sibling temp file, fsync it, rename over the old one: readers see the
  // old file or the new one, never half of either.
  const auto tmp = std::filesystem::path(file.string() + ".tmp");
  const int fd = os::open_cloexec(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return make_error_code(errc::state_dir_unusable);
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return make_error_code(errc::state_dir_unusable);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) return make_error_code(errc::state_dir_unusable);
  return {};
}

result<daemon_status> read_state_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return make_error_code(errc::not_running);
  std::stringstream ss;
  ss << in.rdbuf();
  const json doc = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("daemon") || !doc.contains("nodes")) {
    return make_error_code(errc::state_dir_unusable);
  }
  daemon_status st;
  try {
    const auto& d = doc["daemon"];
    st.pid = d.value("pid", 0);
    st.started_at_unix_ms = d.value("started_at_unix_ms", std::int64_t{0});
    st.started_at = d.value("started_at", "");
    st.config = d.value("config", "");
    for (const auto& [name, j] : doc["nodes"].items()) {
      node_status n;
      n.name = name;
      n.state = process_state_from_string(j.value("state", "stopped")).value_or(process_state::stopped);
      if (j.contains("pid") && j["pid"].is_number_integer()) n.pid = j["pid"].get<int>();
      if (j.contains("pid_start_time") && j["pid_start_time"].is_number_unsigned())
        n.pid_start_time = j["pid_start_time"].get<std::uint64_t>();
      n.port = j.value("port", 0);
      if (j.value("remote", false)) n.remote_url = j.value("url", "");
      n.model = j.value("model", "");
      n.model_index = j.value("model_index", 0);
      n.restarts = j.value("restarts", 0);
      if (j.contains("last_exit")) n.last_exit = exit_from_json(j["last_exit"]);
      if (j.contains("error") && j["error"].is_string()) n.error = j["error"].get<std::string>();
      n.since = j.value("since", "");
      n.retry_at = j.value("retry_at", "");
      if (j.contains("ready_ms") && j["ready_ms"].is_number()) n.ready_ms = j["ready_ms"].get<double>();
      if (j.contains("template") && j["template"].is_object()) {
        n.chat_template = j["template"].value("summary", "");
        if (j["template"].contains("problem") && j["template"]["problem"].is_string())
          n.chat_template_problem = j["template"]["problem"].get<std::string>();
      }
      if (j.contains("switched") && j["switched"].is_object()) {
        n.switch_reason = j["switched"].value("reason", "");
        n.switched_at = j["switched"].value("at", "");
        n.switched_from = j["switched"].value("from", "");
      }
      st.nodes.push_back(std::move(n));
    }
    if (doc.contains("workers") && doc["workers"].is_array())
      for (const auto& j : doc["workers"])
        if (j.is_object()) st.workers.push_back(worker_from_json(j.value("name", ""), j));
    if (doc.contains("last_reload")) st.last_reload = reload_from_json(doc["last_reload"]);
  } catch (const json::exception&) {
    return make_error_code(errc::state_dir_unusable);
  }
  // Keep the daemon's order (orchestrator, subagent) whatever order the JSON object has.
  std::stable_sort(st.nodes.begin(), st.nodes.end(), [](const node_status& a, const node_status& b) {
    return (a.name == "orchestrator") > (b.name == "orchestrator");
  });
  return st;
}

std::string status_json(const daemon_status& status, bool running, std::int64_t now_unix_ms) {
  json daemon{{"running", running}};
  if (running) {
    daemon["pid"] = status.pid;
    daemon["uptime_s"] = status.started_at_unix_ms > 0 ? (now_unix_ms - status.started_at_unix_ms) / 1000 : 0;
    daemon["started_at"] = status.started_at;
  } else {
    daemon["pid"] = nullptr;
    daemon["uptime_s"] = nullptr;
  }
  daemon["config"] = status.config;
  json nodes = json::object();
  for (const auto& n : status.nodes) nodes[n.name] = node_to_json(n, running);
  json workers = json::object();
  for (const auto& w : status.workers) workers[w.name] = worker_to_json(w, running);
  return json{{"daemon", std::move(daemon)}, {"nodes", std::move(nodes)}, {"workers", std::move(workers)},
              {"last_reload", reload_to_json(status.last_reload)}}.dump();
}

}  // namespace openclawd::supervisor
