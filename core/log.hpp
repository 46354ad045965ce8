// One tiny logger: a level, a component tag, one line per call.
// Lines look like `2026-11-24T10:00:00.123Z INFO  supervisor: orchestrator ready (pid 42)`.
// The sink is stderr unless set_log_file() points it elsewhere (the daemon's log).
// Thread-safe (a mutex per line), although openclawd logs from one thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

namespace openclawd::core {

enum class log_level { debug, info, warn, error };

void set_log_level(log_level level);
log_level current_log_level();
// Takes ownership of `f`; nullptr restores stderr.
void set_log_sink(std::FILE* f);

void log(log_level level, std::string_view component, std::string_view message);

inline void log_debug(std::string_view c, std::string_view m) { log(log_level::debug, c, m); }
inline void log_info(std::string_view c, std::string_view m) { log(log_level::info, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log(log_level::warn, c, m); }
inline void log_error(std::string_view c, std::string_view m) { log(log_level::error, c, m); }

// UTC wall clock as "2026-11-24T10:00:00.123Z", for logs and state.json.
std::string utc_timestamp();
std::string utc_timestamp(std::chrono::system_clock::time_point t);

}  // namespace openclawd::core
