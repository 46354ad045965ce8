// Fetching one web page for the page-reading tool, safe against server-side request forgery
// (SSRF) by construction: the URL is parsed with Boost.URL (net/address_policy.hpp), the host
// is resolved once, every address is classified, and the connection goes to an address that
// was checked, never to a name that could resolve again. Every redirect hop is checked the
// same way. A deadline on every step and on the whole fetch; the body is capped while it is
// read from the socket, never after. Coroutine-based: call from the io_context's thread.
#pragma once

#include "core/error.hpp"
#include "net/address_policy.hpp"
#include "net/asio.hpp"
#include "net/https_client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace openclawd::net {

struct page_fetch_options {
  https_timeouts timeouts{};                  // per step; `total` bounds the fetch with all its hops
  int max_redirects = 3;                      // hops followed after the first request
  std::size_t max_body = 2 * 1024 * 1024;     // bytes kept (after decoding); more: truncated
  std::string user_agent;                     // empty: a browser-like default naming openclawd
  std::string accept_language = "en;q=0.9, *;q=0.5";
  address_policy policy{};                    // what may be reached (and the test-only allowance)
  // How a name is resolved; empty: the system's resolver (an IP literal never asks it). A fake
  // at this interface lets tests give a name what an attacker's DNS would: private addresses,
  // or another answer when asked again (rebinding), without a DNS server.
  using resolver = std::function<asio::awaitable<result<std::vector<asio::ip::tcp::endpoint>>>(
      const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout)>;
  resolver resolve;
};

// Why a fetch gave no page. `detail` of page_fetch_error says it in one line for a model.
enum class fetch_failure {
  bad_url,            // not an http(s) URL Boost.URL accepts, user info, an odd numeric host
  insecure_scheme,    // http:// while policy.allow_http is off
  forbidden_address,  // the host is (or resolves to) a private/reserved address, or a blocked port
  no_address,         // DNS gave nothing
  too_many_redirects,
  timeout,            // a step or the total deadline
  network,            // refused, reset, TLS failure (certificate included)
  unsupported_encoding,  // a Content-Encoding we do not decode (br, zstd, ...)
};
std::string_view to_string(fetch_failure f);

struct page_fetch_error {
  fetch_failure kind = fetch_failure::network;
  std::string detail;  // "redirect to 10.0.0.1 refused: a private address"
};

struct fetched_page {
  std::string url;        // the final URL after redirects (what a citation links to)
  unsigned status = 0;    // any status is a page here; the caller decides (403, 503 ...)
  std::vector<std::pair<std::string, std::string>> headers;  // of the final response
  std::string content_type;  // the Content-Type header as sent ("text/html; charset=utf-8"), or ""
  std::string body;          // decoded (gzip/deflate), at most max_body bytes
  bool truncated = false;    // the body was longer than max_body; reading stopped there
  int redirects = 0;
  std::string address;       // the address connected to for the final hop, for logs
  std::chrono::milliseconds elapsed{0};
};

// One page. Never throws for site or network trouble; the error says what happened.
asio::awaitable<std::variant<fetched_page, page_fetch_error>> fetch_page(std::string url,
                                                                        page_fetch_options options,
                                                                        tls_options tls = {});

}  // namespace openclawd::net
