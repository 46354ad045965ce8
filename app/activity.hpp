// Long work in progress, for `status`, GET /status and the admin page: a model pull (written
// by the pulling command to <state_dir>/pull.json about once a second, removed when it ends)
// and the load of a node that is starting (its phase read from the node's log). Files are the
// channel because a pull runs in the CLI process, not in the daemon. Plain functions; callers
// on any thread.
#pragma once

#include "app/model_pull.hpp"
#include "supervisor/node_status.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace openclawd::app {

std::filesystem::path pull_activity_file(const std::filesystem::path& state_dir);

// Rewrites pull.json atomically with this process's pid and the pull's progress.
void write_pull_activity(const std::filesystem::path& state_dir, const std::vector<std::string>& refs,
                         const pull_progress& p);
void clear_pull_activity(const std::filesystem::path& state_dir);

// {"pull": {...} or null, "loading": {"<node>": {"phase", "percent", "since"}}}. A pull.json
// whose process is gone is ignored (a killed pull leaves it behind).
nlohmann::json activity_json(const supervisor::daemon_status& st, bool running, const std::filesystem::path& state_dir);

// The same as (name, value) rows for the admin page; empty when nothing is in progress.
std::vector<std::pair<std::string, std::string>> activity_rows(const nlohmann::json& activity);

}  // namespace openclawd::app
