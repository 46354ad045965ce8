// The page-reading tool: reads the links a user sends and the top search results, and hands
// their readable text to the subagent as fenced, untrusted data with numbers to cite. One page
// is fetched SSRF-safely (net/page_fetch.hpp), its text extracted (tools/page_extract.hpp),
// and the outcome is always a page_read: a page that is blocked, slow, too large or not text
// becomes a one-line note, never an error. It is polite per host (requests to one host at
// least min_interval apart), leaves a host alone for a while after it blocks us (a circuit
// breaker per host), and caches pages by URL. Owned by the gateway (or the `read` command);
// all methods run on the io_context's thread, no locks.
#pragma once

#include "core/config.hpp"
#include "net/address_policy.hpp"
#include "net/asio.hpp"
#include "net/tls.hpp"
#include "tools/circuit_breaker.hpp"
#include "tools/result_cache.hpp"
#include "tools/tool.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::tools {

enum class page_status {
  ok,                // text holds the page's readable text
  refused,           // not a URL we may fetch: a private address, a blocked port, another scheme
  blocked,           // the site refused us (401/403/429, a bot challenge)
  paused,            // the host blocked us recently: not asked again yet
  timeout,           // a deadline passed (the page's, or the message's)
  too_large,         // a PDF longer than the body cap (an HTML page is cut and read instead)
  unsupported,       // not text, HTML, Markdown, JSON or PDF
  needs_javascript,  // an empty shell rendered by JavaScript
  http_error,        // 404, 500 ...
  failed,            // network or TLS failure, unreadable content, nothing readable
};
std::string_view to_string(page_status s);

struct page_read {
  std::string url;        // as asked
  std::string final_url;  // after redirects: what a citation links to
  page_status status = page_status::failed;
  unsigned http_status = 0;
  std::string title;
  std::string kind;       // "html", "text", "markdown", "json", "pdf"
  std::string text;       // readable text, at most pages.max_chars code points
  bool main_content = false;  // the scoring found an article (else the whole visible text)
  bool cut = false;           // the body or the text was cut at its cap
  bool from_cache = false;
  std::string note;       // not ok: one line for the model and the user ("blocked by the site (HTTP 403)")
  std::chrono::milliseconds fetch_time{0};
  std::chrono::milliseconds extract_time{0};
  std::size_t bytes = 0;  // body bytes read

  bool ok() const { return status == page_status::ok; }
};

struct reader_stats {
  std::uint64_t requests = 0;    // pages asked of a site (redirects included in one)
  std::uint64_t ok = 0;          // pages read (from the site or the cache)
  std::uint64_t cache_hits = 0;
  std::uint64_t bytes = 0;       // body bytes read from sites
  std::map<page_status, std::uint64_t> failures;  // by status, every page that was not ok
  std::uint64_t gave_up = 0;     // pages still under way at the message deadline (answered without them)
  std::chrono::milliseconds last_fetch{0};
  std::chrono::milliseconds last_extract{0};
};

class web_reader final : public tool {
 public:
  // `policy` says what may be reached: blocked_ports holds the admin port and the nodes'
  // ports; allow_loopback is for the test suite only (docs/pages.md).
  web_reader(asio::any_io_executor ex, core::pages_config config, net::address_policy policy,
             net::tls_options tls = {});
  ~web_reader() override;
  web_reader(const web_reader&) = delete;
  web_reader& operator=(const web_reader&) = delete;

  // One page: the cache, the host's breaker and politeness delay, the fetch, the extraction.
  // Never throws for site or network trouble.
  asio::awaitable<page_read> read(std::string url);
  // Several pages at once (different hosts in parallel), within pages.message_timeout; a page
  // still under way then is reported as timed out. The results are in the order asked.
  asio::awaitable<std::vector<page_read>> read_all(std::vector<std::string> urls);

  // tool: arguments {"url": "..."}; the content is render_pages_for_model() of that one page.
  std::string_view name() const override { return "read_page"; }
  std::string_view description() const override;
  std::string_view parameters_schema() const override;
  asio::awaitable<tool_output> invoke(std::string arguments_json) override;

  const reader_stats& stats() const { return stats_; }
  const core::pages_config& config() const { return config_; }
  // Hosts left alone now after blocking us.
  int hosts_paused() const;

 private:
  struct batch;
  asio::awaitable<void> read_into(std::shared_ptr<batch> b, std::size_t index, std::string url);
  asio::awaitable<page_read> fetch_and_extract(page_read out, std::string host);
  circuit_breaker& breaker_for(const std::string& host);

  asio::any_io_executor ex_;
  core::pages_config config_;
  net::address_policy policy_;
  net::tls_options tls_;
  result_cache<page_read> cache_;
  std::map<std::string, circuit_breaker> breakers_;                       // by host
  std::map<std::string, std::chrono::steady_clock::time_point> next_slot_;  // by host: politeness
  reader_stats stats_;
};

// The http(s) links in a user's message, in order, without duplicates, at most `max`:
// "https://…" and "www.…" (read as https), with trailing punctuation and an unbalanced ")"
// dropped, as a reader would.
std::vector<std::string> find_urls(std::string_view text, std::size_t max);

// A page with the number the model cites it by.
struct numbered_page {
  int number = 0;
  const page_read* page = nullptr;
};

// The pages as text for a model: a note that the blocks are untrusted data, each readable page
// in a nonce fence of its own headed "[n] title" and its URL, then one line per page that
// could not be read. At most max_chars code points in all: the pages share the room fairly
// (a short page leaves its unused share to the others) and each is cut on a boundary. Text is
// neutralized line by line (tools/untrusted_text.hpp). `nonce` empty: a random one.
std::string render_pages_for_model(const std::vector<numbered_page>& pages, std::size_t max_chars,
                                   std::string_view nonce = {});

// When a model's context has no room for any page text (a small context, a long conversation):
// the pages named by number, title and URL, without their text, and the pages that could not be
// read, a line each. Titles and URLs are neutralized and cut as in render_pages_for_model().
std::string render_pages_briefly(const std::vector<numbered_page>& pages);

}  // namespace openclawd::tools
