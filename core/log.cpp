#include "core/log.hpp"

#include <chrono>
#include <ctime>
#include <mutex>

namespace openclawd::core {
namespace {

std::mutex g_mutex;
log_level g_level = log_level::info;
std::FILE* g_sink = nullptr;  // nullptr: stderr

const char* level_name(log_level l) {
  switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO ";
    case log_level::warn: return "WARN ";
    case log_level::error: return "ERROR";
  }
  return "?    ";
}

}  // namespace

void set_log_level(log_level level) {
  std::lock_guard lock(g_mutex);
  g_level = level;
}

log_level current_log_level() {
  std::lock_guard lock(g_mutex);
  return g_level;
}

void set_log_sink(std::FILE* f) {
  std::lock_guard lock(g_mutex);
  if (g_sink != nullptr) std::fclose(g_sink);
  g_sink = f;
}

std::string utc_timestamp() { return utc_timestamp(std::chrono::system_clock::now()); }

std::string utc_timestamp(std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  const std::time_t t = system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void log(log_level level, std::string_view component, std::string_view message) {
  std::lock_guard lock(g_mutex);
  if (level < g_level) return;
  std::FILE* out = g_sink != nullptr ? g_sink : stderr;
  const std::string ts = utc_timestamp();
  std::fprintf(out, "%s %s %.*s: %.*s\n", ts.c_str(), level_name(level), static_cast<int>(component.size()),
               component.data(), static_cast<int>(message.size()), message.data());
  std::fflush(out);
}

}  // namespace openclawd::core
