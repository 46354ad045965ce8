#include "supervisor/process_state.hpp"

namespace openclawd::supervisor {

std::string_view to_string(process_state s) noexcept {
  switch (s) {
    case process_state::stopped: return "stopped";
    case process_state::starting: return "starting";
    case process_state::ready: return "ready";
    case process_state::backoff: return "backoff";
    case process_state::failed: return "failed";
    case process_state::stopping: return "stopping";
  }
  return "unknown";
}

std::optional<process_state> process_state_from_string(std::string_view s) noexcept {
  for (auto st : {process_state::stopped, process_state::starting, process_state::ready, process_state::backoff,
                  process_state::failed, process_state::stopping}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

bool is_valid_transition(process_state from, process_state to) noexcept {
  using enum process_state;
  if (from == to) return true;  // re-announcing a state (e.g. a new pid while starting) is fine
  switch (from) {
    case stopped: return to == starting;
    // → stopped directly: a url: node has no child to stop.
    case starting: return to == ready || to == backoff || to == failed || to == stopping || to == starting || to == stopped;
    case ready: return to == backoff || to == stopping || to == starting || to == failed || to == stopped;
    // → ready: a url: node that stopped answering answers again.
    case backoff: return to == starting || to == failed || to == stopped || to == ready;
    case failed: return to == starting || to == stopped;
    case stopping: return to == stopped || to == backoff || to == failed || to == starting;
  }
  return false;
}

}  // namespace openclawd::supervisor
