// `openclawd search "query"`: runs the DuckDuckGo tool once, as the daemon would, and prints
// the results, so a user can check that search works from their network and tests can
// drive the real client. Uses the config's search: section, or the defaults when no config
// file exists at all (search needs no models).
#include "app/command.hpp"
#include "core/log.hpp"
#include "tools/web_search.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

namespace openclawd::app {
namespace {

constexpr std::string_view search_usage = R"(usage: openclawd search [--config FILE] [--json] QUERY...

Searches DuckDuckGo once with the settings of the config's search: section (endpoint,
region, timeouts, User-Agent, ...; see docs/search.md) and prints the top results. The words
of QUERY are joined with spaces. Without --config and $OPENCLAWD_CONFIG, the usual config
file is read if it exists; if there is none, the defaults are used.

  --config FILE   the YAML configuration (only its search: section is used)
  --json          one JSON object: {"results":[{"title":…,"url":…,"snippet":…}],"blocked":false};
                  when no results could be had, also "reason" (and "blocked":true if
                  DuckDuckGo blocked the query)
Exit codes: 0 results (or none found), 1 blocked or unavailable, 2 usage or configuration error.
)";

// The search: section to use, or nullopt after printing why the config is unusable.
std::optional<core::search_config> search_settings(const command_args& a) {
  const char* env = std::getenv("OPENCLAWD_CONFIG");
  bool have_file = a.value("config").has_value() || (env != nullptr && *env != '\0');
  std::error_code ec;
  for (const auto& c : core::default_config_candidates()) have_file = have_file || std::filesystem::exists(c, ec);
  if (!have_file) return core::search_config{};
  auto cfg = load_config_for(a, /*check_files=*/false);
  if (!cfg) return std::nullopt;
  return cfg->search;
}

void print_json(const tools::search_outcome& o) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : o.results) results.push_back({{"title", r.title}, {"url", r.url}, {"snippet", r.snippet}});
  nlohmann::json out{{"results", std::move(results)}, {"blocked", o.status == tools::search_status::blocked}};
  if (o.status != tools::search_status::ok) out["reason"] = o.reason;
  // The parser guarantees UTF-8; replacing anything else keeps the output parseable regardless.
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void print_text(const tools::search_outcome& o) {
  if (o.results.empty()) {
    std::cout << "no results for \"" << o.query << "\"\n";
    return;
  }
  int i = 0;
  for (const auto& r : o.results) {
    std::cout << ++i << ". " << r.title << "\n   " << r.url << "\n";
    if (!r.snippet.empty()) std::cout << "   " << r.snippet << "\n";
    std::cout << "\n";
  }
}

int cmd_search(const command_args& a) {
  std::string query;
  for (const auto& w : a.positional) query += (query.empty() ? "" : " ") + w;
  if (tools::prepare_query(query, 1000).empty()) {
    print_error("search needs a query, e.g. openclawd search \"llama.cpp release notes\"");
    return exit_usage;
  }
  auto settings = search_settings(a);
  if (!settings) return exit_usage;
  // The outcome is printed below; the tool's own log lines would only repeat it.
  core::set_log_level(core::log_level::error);

  asio::io_context ioc;
  auto tool = tools::web_search::create(ioc.get_executor(), *settings);
  if (!tool) {
    print_error("cannot set up TLS (the system's trusted certificates): " + tool.error().message());
    return exit_runtime_failure;
  }
  std::optional<tools::search_outcome> outcome;
  std::exception_ptr failure;
  asio::co_spawn(ioc, (*tool)->search(query), [&](std::exception_ptr e, tools::search_outcome o) {
    failure = e;
    outcome = std::move(o);
    ioc.stop();  // a DNS lookup abandoned at its deadline must not keep us waiting
  });
  ioc.run();
  if (failure) std::rethrow_exception(failure);

  if (a.flag("json")) {
    print_json(*outcome);
  } else if (outcome->status == tools::search_status::ok) {
    print_text(*outcome);
  }
  switch (outcome->status) {
    case tools::search_status::ok: return exit_ok;
    case tools::search_status::blocked:
      if (!a.flag("json")) print_error("web search is blocked: " + outcome->reason);
      return exit_runtime_failure;
    case tools::search_status::unavailable:
      if (!a.flag("json")) print_error("web search is unavailable: " + outcome->reason);
      return exit_runtime_failure;
  }
  return exit_runtime_failure;
}

}  // namespace

const command_spec search_command{"search", "search the web once (DuckDuckGo) and print the results", search_usage,
                                  {"json"}, {"config"}, 64, cmd_search};

}  // namespace openclawd::app
