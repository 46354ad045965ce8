#include "app/cli.hpp"

#include "app/command.hpp"

#include <csignal>
#include <cstdlib>
#include <algorithm>
#include <iostream>

namespace openclawd::app {
namespace {

// The commands, in the order `openclawd help` lists them. Add a row for a new command.
const command_spec* const commands[] = {&start_command,  &stop_command,   &status_command,
                                        &reload_command, &logs_command,   &doctor_command,
                                        &service_command, &search_command, &read_command, &chat_command,
                                        &pull_command};

const command_spec* find_command(std::string_view name) {
  for (const auto* c : commands)
    if (c->name == name) return c;
  return nullptr;
}

void print_main_usage(std::ostream& out) {
  out << "usage: openclawd <command> [options]\n\n"
         "Runs two llama-server processes (the orchestrator and the subagent) and keeps them alive.\n\n"
         "commands:\n";
  for (const auto* c : commands) {
    std::string name(c->name);
    name.resize(10, ' ');
    out << "  " << name << c->summary << "\n";
  }
  out << "  version   print the version\n"
         "  help      show help for a command: openclawd help start\n\n"
         "Each command takes --config FILE; without it openclawd reads $OPENCLAWD_CONFIG, then\n"
         "~/.config/openclawd/openclawd.yaml (on macOS also ~/Library/Application Support/openclawd/).\n"
         "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 not running (status).\n";
}

// Parses `words` (after the command name) against the command's spec. --opt=value and
// --opt value both work; -c is short for --config, -f for --follow, -n for --lines.
std::optional<command_args> parse(const command_spec& spec, const std::vector<std::string>& words) {
  command_args a;
  a.command = std::string(spec.name);
  auto takes_value = [&](std::string_view n) {
    return std::find(spec.valued.begin(), spec.valued.end(), n) != spec.valued.end();
  };
  auto is_flag = [&](std::string_view n) {
    return n == "help" || std::find(spec.flags.begin(), spec.flags.end(), n) != spec.flags.end();
  };
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string w = words[i];
    if (w == "-h") w = "--help";
    if (w == "-c") w = "--config";
    // tail's short forms, for the commands that have these options (`logs -f -n 100`).
    if (w == "-f" && is_flag("follow")) w = "--follow";
    if (w == "-n" && takes_value("lines")) w = "--lines";
    if (w.rfind("--", 0) != 0 || w.size() == 2) {
      if (static_cast<int>(a.positional.size()) >= spec.max_positional) {
        print_error("unexpected argument \"" + w + "\" for '" + a.command + "' (see: openclawd help " + a.command +
                    ")");
        return std::nullopt;
      }
      a.positional.push_back(w);
      continue;
    }
    std::string name = w.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (takes_value(name)) {
      if (!inline_value) {
        if (i + 1 >= words.size()) {
          print_error("--" + name + " needs a value");
          return std::nullopt;
        }
        value = words[++i];
      }
      a.values[name] = value;
    } else if (is_flag(name) && !inline_value) {
      a.flags.insert(name);
    } else {
      print_error("unknown option " + w + " for '" + a.command + "' (see: openclawd help " + a.command + ")");
      return std::nullopt;
    }
  }
  return a;
}

}  // namespace

void print_error(const std::string& message) { std::cerr << "openclawd: " << message << "\n"; }

std::optional<std::filesystem::path> find_config_file(const command_args& a) {
  if (auto c = a.value("config")) return std::filesystem::path(*c);
  if (const char* env = std::getenv("OPENCLAWD_CONFIG"); env && *env) return std::filesystem::path(env);
  const auto candidates = core::default_config_candidates();
  for (const auto& c : candidates)
    if (std::filesystem::exists(c)) return c;
  std::string tried;
  for (const auto& c : candidates) tried += "\n  " + c.string();
  print_error("no configuration file found; pass --config FILE or set $OPENCLAWD_CONFIG. Looked in:" + tried +
              "\n(configs/openclawd.example.yaml documents every key)");
  return std::nullopt;
}

std::optional<core::config> load_config_for(const command_args& a, bool check_files) {
  const auto file = find_config_file(a);
  if (!file) return std::nullopt;
  auto cfg = core::load_config(*file, core::load_options{check_files});
  if (!cfg) {
    print_error(cfg.error().to_string());
    print_error("nothing was started or changed");
    return std::nullopt;
  }
  return std::move(*cfg);
}

int cli_main(int argc, char** argv) {
  // A peer that closes a socket must give us EPIPE, not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> words(argv + 1, argv + argc);
  const std::string name = words.empty() ? "help" : words[0];
  if (name == "help" || name == "--help" || name == "-h") {
    const command_spec* topic = words.size() > 1 ? find_command(words[1]) : nullptr;
    if (topic) std::cout << topic->usage;
    else print_main_usage(std::cout);
    return exit_ok;
  }
  if (name == "version" || name == "--version") {
    std::cout << "openclawd " OPENCLAWD_VERSION "\n";
    return exit_ok;
  }
  const command_spec* spec = find_command(name);
  if (spec == nullptr) {
    print_error("unknown command '" + name + "'");
    print_main_usage(std::cerr);
    return exit_usage;
  }
  auto args = parse(*spec, {words.begin() + 1, words.end()});
  if (!args) return exit_usage;
  if (args->flag("help")) {
    std::cout << spec->usage;
    return exit_ok;
  }
  return spec->run(*args);
}

}  // namespace openclawd::app
