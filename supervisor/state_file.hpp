// state.json: the daemon's last announced state (s6's "announce"), rewritten
// atomically (temp file + rename) on every node transition, so that `status` and
// `stop` read a complete file even while the daemon writes, and so that the next
// `start` can find children left behind by a daemon that was SIGKILLed.
#pragma once

#include "core/error.hpp"
#include "supervisor/node_status.hpp"

#include <filesystem>
#include <string>

namespace openclawd::supervisor {

result<void> write_state_file(const std::filesystem::path& file, const daemon_status& status);
result<daemon_status> read_state_file(const std::filesystem::path& file);

// The JSON that `status --json` prints and the admin endpoint will serve:
// {"daemon":{"running":…,"pid":…,"uptime_s":…},"nodes":{"orchestrator":{"state":…,"pid":…,…}}}
// `running` false renders pids as null and every node as "stopped".
std::string status_json(const daemon_status& status, bool running, std::int64_t now_unix_ms);

}  // namespace openclawd::supervisor
