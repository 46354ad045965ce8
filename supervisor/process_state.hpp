// The life cycle of one supervised llama-server. Only model_process::run() changes
// a node's state; everyone else reads snapshots and states wishes (start/stop).
//
//              start()                 GET /health 200
//   stopped ───────────▶ starting ─────────────────────▶ ready
//      ▲                    │ exit, startup_timeout          │ exit, liveness failed
//      │                    ▼                                ▼
//      │                 backoff ◀───────────────────────────┘
//      │                    │ delay over: starting (same model, or the next fallback)
//      │                    │ too many quick failures and no fallback left
//      │                    ▼
//      │                 failed   (stays until start() is asked again)
//      │
//      └──── stopping ◀──── stop() from any state with a child (SIGTERM, grace, SIGKILL, reap)
//
// A node that has never been ready with its current model skips `backoff` on a start
// failure: the model cannot load, so the next fallback (or `failed`) follows at once.
//
// A `url:` node (a server openclawd does not run) uses the same names without a child:
// starting (not answered yet) → ready ⇄ backoff (stopped answering; probed every
// health.interval, never restarted) and straight to stopped, with nothing to stop. It enters
// failed only when it never answered within startup_timeout.
#pragma once

#include <optional>
#include <string_view>

namespace openclawd::supervisor {

enum class process_state { stopped, starting, ready, backoff, failed, stopping };

std::string_view to_string(process_state s) noexcept;
std::optional<process_state> process_state_from_string(std::string_view s) noexcept;

// The edges of the diagram above. run() asserts every transition against it.
bool is_valid_transition(process_state from, process_state to) noexcept;

}  // namespace openclawd::supervisor
