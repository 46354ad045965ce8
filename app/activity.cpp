#include "app/activity.hpp"

#include "supervisor/load_phase.hpp"

#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace openclawd::app {
namespace fs = std::filesystem;

fs::path pull_activity_file(const fs::path& state_dir) { return state_dir / "pull.json"; }

void write_pull_activity(const fs::path& state_dir, const std::vector<std::string>& refs, const pull_progress& p) {
  if (state_dir.empty()) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.started).count();
  const double rate = secs > 0 ? static_cast<double>(p.downloaded()) / secs : 0;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : p.files) {
    static constexpr const char* states[] = {"queued", "downloading", "verifying", "done", "failed"};
    files.push_back({{"ref", f.ref}, {"path", f.path}, {"size", f.size}, {"have", f.have},
                     {"state", states[static_cast<int>(f.st)]}});
  }
  const auto total = p.total(), have = p.have();
  nlohmann::json j = {{"pid", static_cast<long>(::getpid())},
                      {"refs", refs},
                      {"total_bytes", total},
                      {"have_bytes", have},
                      {"percent", total ? 100.0 * static_cast<double>(have) / static_cast<double>(total) : 0.0},
                      {"rate_bytes_s", rate},
                      {"eta_s", rate > 0 ? nlohmann::json(static_cast<double>(total - std::min(total, have)) / rate)
                                         : nlohmann::json()},
                      {"elapsed_s", secs},
                      {"files", files}};
  std::error_code ec;
  // Never created here: the daemon makes it private (0700) on its first start.
  if (!fs::is_directory(state_dir, ec)) return;
  const fs::path file = pull_activity_file(state_dir), tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
  }
  fs::rename(tmp, file, ec);  // best effort: a status without it only misses the progress
}

void clear_pull_activity(const fs::path& state_dir) {
  if (state_dir.empty()) return;
  std::error_code ec;
  fs::remove(pull_activity_file(state_dir), ec);
}

nlohmann::json activity_json(const supervisor::daemon_status& st, bool running, const fs::path& state_dir) {
  nlohmann::json out = {{"pull", nullptr}, {"loading", nlohmann::json::object()}};
  if (state_dir.empty()) return out;
  std::ifstream in(pull_activity_file(state_dir));
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    const long pid = j.is_object() ? j.value("pid", 0L) : 0L;
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) out["pull"] = std::move(j);
  }
  if (!running) return out;
  for (const auto& n : st.nodes) {
    if (n.remote() || n.state != supervisor::process_state::starting) continue;
    const auto phase = supervisor::parse_load_phase(supervisor::read_log_tail((state_dir / "logs" / (n.name + ".log")).string()));
    out["loading"][n.name] = {{"phase", phase.text},
                              {"percent", phase.percent ? nlohmann::json(*phase.percent) : nlohmann::json()},
                              {"since", n.since}};
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> activity_rows(const nlohmann::json& a) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (a.contains("pull") && a["pull"].is_object()) {
    const auto& p = a["pull"];
    std::string refs;
    for (const auto& r : p.value("refs", nlohmann::json::array())) refs += (refs.empty() ? "" : ", ") + r.get<std::string>();
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", p.value("percent", 0.0));
    std::string line = std::string(pct) + ", " + human_bytes(p.value("have_bytes", std::uint64_t{0})) + " of " +
                       human_bytes(p.value("total_bytes", std::uint64_t{0})) + ", " +
                       human_bytes(static_cast<std::uint64_t>(p.value("rate_bytes_s", 0.0))) + "/s";
    if (p.contains("eta_s") && p["eta_s"].is_number())
      line += ", ETA " + std::to_string(static_cast<long>(p["eta_s"].get<double>())) + " s";
    rows.emplace_back("pulling " + refs, line + " (pid " + std::to_string(p.value("pid", 0L)) + ")");
  }
  if (a.contains("loading") && a["loading"].is_object()) {
    for (const auto& [node, l] : a["loading"].items()) {
      std::string line = l.value("phase", std::string());
      if (l.contains("percent") && l["percent"].is_number()) line = std::to_string(l["percent"].get<int>()) + "%, " + line;
      rows.emplace_back(node + " loading", (line.empty() ? std::string("started") : line) + " (since " +
                                               l.value("since", std::string("?")) + ")");
    }
  }
  return rows;
}

}  // namespace openclawd::app
