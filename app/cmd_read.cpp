// `openclawd read URL`: runs the page-reading tool once, as the daemon would for a link in a
// message, and prints what the model would be given, so a user can see why a page reads
// badly (blocked, needs JavaScript, a private address) and scripts can use the extraction.
// Uses the config's pages: section, or the defaults when no config file exists at all.
#include "app/command.hpp"
#include "app/page_policy.hpp"
#include "core/log.hpp"
#include "tools/web_reader.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

namespace openclawd::app {
namespace {

constexpr std::string_view read_usage = R"(usage: openclawd read [--config FILE] [--json] URL

Reads one web page with the settings of the config's pages: section (limits, timeouts,
User-Agent; see docs/pages.md) and prints what the model would be given: the page's readable
text in its untrusted-data fence, or the one-line note a model gets when the page cannot be
read. Private, loopback and link-local addresses are refused, as are the daemon's own ports.
Without --config and $OPENCLAWD_CONFIG, the usual config file is read if it exists; if there
is none, the defaults are used.

  --config FILE   the YAML configuration (its pages: section, and the ports never to reach)
  --json          one JSON object: {"url","final_url","status","http_status","title","kind",
                  "text","main_content","cut","note","fetch_ms","extract_ms","bytes"}
Exit codes: 0 read, 1 not read (the note says why), 2 usage or configuration error.
)";

std::optional<core::config> read_settings(const command_args& a) {
  const char* env = std::getenv("OPENCLAWD_CONFIG");
  bool have_file = a.value("config").has_value() || (env != nullptr && *env != '\0');
  std::error_code ec;
  for (const auto& c : core::default_config_candidates()) have_file = have_file || std::filesystem::exists(c, ec);
  if (!have_file) return core::config{};
  auto cfg = load_config_for(a, /*check_files=*/false);
  if (!cfg) return std::nullopt;
  return std::move(*cfg);
}

void print_json(const tools::page_read& p) {
  nlohmann::json out{{"url", p.url},
                     {"final_url", p.final_url},
                     {"status", std::string(tools::to_string(p.status))},
                     {"http_status", p.http_status},
                     {"title", p.title},
                     {"kind", p.kind},
                     {"text", p.text},
                     {"main_content", p.main_content},
                     {"cut", p.cut},
                     {"note", p.note},
                     {"fetch_ms", p.fetch_time.count()},
                     {"extract_ms", p.extract_time.count()},
                     {"bytes", p.bytes}};
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int cmd_read(const command_args& a) {
  if (a.positional.size() != 1) {
    print_error("read needs one URL, e.g. openclawd read https://example.com/article");
    return exit_usage;
  }
  auto cfg = read_settings(a);
  if (!cfg) return exit_usage;
  const auto policy = page_policy_of(*cfg);
  // The outcome is printed below; the tool's own log lines would only repeat it.
  core::set_log_level(core::log_level::error);

  asio::io_context ioc;
  tools::web_reader reader(ioc.get_executor(), cfg->pages, policy);
  std::optional<tools::page_read> page;
  std::exception_ptr failure;
  asio::co_spawn(ioc, reader.read(a.positional.front()), [&](std::exception_ptr e, tools::page_read p) {
    failure = e;
    page = std::move(p);
    ioc.stop();  // a DNS lookup abandoned at its deadline must not keep us waiting
  });
  ioc.run();
  if (failure) std::rethrow_exception(failure);

  if (a.flag("json")) {
    print_json(*page);
  } else {
    const std::vector<tools::numbered_page> one{{1, &*page}};
    std::cout << tools::render_pages_for_model(one, static_cast<std::size_t>(cfg->pages.max_chars) + 2000);
    if (page->ok()) {
      std::cerr << "openclawd: read " << page->final_url << ": " << page->kind << ", " << page->bytes << " bytes, "
                << page->text.size() << " bytes of text" << (page->main_content ? " (main content)" : " (whole page)")
                << (page->cut ? ", cut" : "") << "; fetch " << page->fetch_time.count() << " ms, extract "
                << page->extract_time.count() << " ms\n";
    }
  }
  if (!page->ok() && !a.flag("json")) print_error("not read: " + page->note);
  return page->ok() ? exit_ok : exit_runtime_failure;
}

}  // namespace

const command_spec read_command{"read", "read one web page as the agent would and print its text", read_usage,
                                {"json"}, {"config"}, 1, cmd_read};

}  // namespace openclawd::app
