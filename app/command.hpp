// What every `openclawd` subcommand shares: parsed arguments, exit codes, the config
// lookup, and the spec each command file registers in app/cli.cpp's table. A new
// command is one file (app/cmd_<name>.cpp) plus one row in that table.
#pragma once

#include "core/config.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::app {

// Documented in docs/cli.md.
enum exit_code : int { exit_ok = 0, exit_runtime_failure = 1, exit_usage = 2, exit_not_running = 3 };

struct command_args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> values;  // "--config FILE" -> values["config"]
  std::set<std::string, std::less<>> flags;                // "--json" -> flags {"json"}

  bool flag(std::string_view name) const { return flags.count(name) != 0; }
  std::optional<std::string> value(std::string_view name) const {
    const auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

struct command_spec {
  std::string_view name;
  std::string_view summary;              // one line for `openclawd help`
  std::string_view usage;                // the full `openclawd <name> --help` text
  std::vector<std::string_view> flags;   // options without a value ("json")
  std::vector<std::string_view> valued;  // options that take a value ("config")
  int max_positional = 0;
  int (*run)(const command_args&) = nullptr;
};

// "openclawd: <message>" on stderr.
void print_error(const std::string& message);

// --config, then $OPENCLAWD_CONFIG, then the user's config folder; prints why on failure.
std::optional<std::filesystem::path> find_config_file(const command_args& a);
// find_config_file + core::load_config; prints the error (file:line:col: key: ...) on failure.
std::optional<core::config> load_config_for(const command_args& a, bool check_files);

// For start and reload: the config, after pulling the references it names that are not in
// the model cache yet (progress on stdout), then loaded strictly. With `offline`, a missing
// reference is an error instead. On failure prints why, sets exit_code and returns nullopt.
std::optional<core::config> load_config_pulling(const command_args& a, bool offline, int& exit_code);

// The commands, one file each.
extern const command_spec start_command;   // app/cmd_lifecycle.cpp
extern const command_spec stop_command;    // app/cmd_lifecycle.cpp
extern const command_spec status_command;  // app/cmd_lifecycle.cpp
extern const command_spec reload_command;  // app/cmd_reload.cpp
extern const command_spec search_command;  // app/cmd_search.cpp
extern const command_spec read_command;    // app/cmd_read.cpp
extern const command_spec logs_command;     // app/cmd_logs.cpp
extern const command_spec doctor_command;   // app/cmd_doctor.cpp
extern const command_spec service_command;  // app/cmd_service.cpp
extern const command_spec chat_command;     // app/cmd_chat.cpp
extern const command_spec pull_command;     // app/cmd_pull.cpp

}  // namespace openclawd::app
