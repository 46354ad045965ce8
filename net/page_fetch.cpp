// fetch_page: one GET per hop on a connection of its own. The order of things is the
// defence: check the URL (Boost.URL), resolve once, drop every refused address, connect only
// to what is left (the checked endpoints, never the name again), then read the body piece by
// piece, decoding as it comes, and stop at the cap: the rest of a huge or endless body is
// never read, and a compressed body never grows past the cap in memory.
#include "net/page_fetch.hpp"

#include "core/log.hpp"
#include "net/net_error.hpp"
#include "net/step_deadline.hpp"
#include "net/tls.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <optional>

namespace openclawd::net {
namespace {

using detail::steady;
using detail::step_budget;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

constexpr const char* default_user_agent =
    "Mozilla/5.0 (compatible; openclawd/" OPENCLAWD_VERSION "; +https://github.com/openclawd/openclawd)";
// What the page reader can use, best first; anything else only if nothing better exists.
constexpr const char* accept_types =
    "text/html,application/xhtml+xml;q=0.9,text/plain;q=0.9,text/markdown;q=0.9,application/json;q=0.8,"
    "application/pdf;q=0.8,*/*;q=0.1";
constexpr std::uint32_t header_limit = 64 * 1024;
// Compressed bytes read beyond max_body: a compressed body longer than the cap decodes to more
// than the cap, so reading further can only be a stream of empty deflate blocks.
constexpr std::size_t compressed_slack = 64 * 1024;

page_fetch_error fail(fetch_failure kind, std::string detail) { return page_fetch_error{kind, std::move(detail)}; }

std::string duration_text(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

// A URL quoted in a message for a model: bounded, whatever the page sent.
std::string bounded(std::string_view s) {
  if (s.size() <= 200) return std::string(s);
  return std::string(s.substr(0, 200)) + "...";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

page_fetch_error from_refusal(const url_refusal& r, std::string_view prefix) {
  const std::string detail = std::string(prefix) + r.reason;
  switch (r.kind) {
    case url_refusal_kind::insecure: return fail(fetch_failure::insecure_scheme, detail);
    case url_refusal_kind::address: return fail(fetch_failure::forbidden_address, detail);
    case url_refusal_kind::malformed:
    case url_refusal_kind::scheme: break;
  }
  return fail(fetch_failure::bad_url, detail);
}

// A failed step: a deadline (the step's own, or the whole fetch's) or a network error.
page_fetch_error step_error(std::string_view step, const checked_url& u, boost::system::error_code ec,
                            milliseconds limit, steady::time_point end, milliseconds total) {
  if (ec == errc::timeout || ec == beast::error::timeout) {
    if (steady::now() + milliseconds(5) >= end)
      return fail(fetch_failure::timeout, "the fetch took longer than its total deadline of " + duration_text(total));
    return fail(fetch_failure::timeout, std::string(step) + " " + u.host + " took longer than " + duration_text(limit));
  }
  return fail(fetch_failure::network, std::string(step) + " " + u.host + " failed: " + ec.message());
}

// gzip and deflate, decoded as the bytes arrive, never past `max + 1` bytes of output (one
// byte more than kept, to know there was more).
class body_decoder {
 public:
  enum class coding { identity, gzip, deflate };

  body_decoder(coding c, std::size_t max) : coding_(c), max_(max) {}
  ~body_decoder() {
    if (started_) inflateEnd(&z_);
  }
  body_decoder(const body_decoder&) = delete;
  body_decoder& operator=(const body_decoder&) = delete;

  // Appends what [data, data + n) decodes to. False: the compressed data is corrupt.
  bool feed(const char* data, std::size_t n, std::string& out) {
    if (coding_ == coding::identity) {
      out.append(data, std::min(n, max_ + 1 - std::min(out.size(), max_ + 1)));
      return true;
    }
    if (ended_ || n == 0) return true;
    if (!started_) {
      // "deflate" is zlib-wrapped by the RFC and raw in much of the wild: tell them apart by
      // the zlib header (CM 8, a check that is a multiple of 31), as browsers do.
      pending_.append(data, n);
      if (coding_ == coding::deflate && pending_.size() < 2) return true;
      int window = 15 + 16;  // gzip
      if (coding_ == coding::deflate) {
        const auto cmf = static_cast<unsigned char>(pending_[0]);
        const auto flg = static_cast<unsigned char>(pending_[1]);
        window = ((cmf & 0x0f) == 8 && (cmf * 256U + flg) % 31 == 0) ? 15 : -15;
      }
      if (inflateInit2(&z_, window) != Z_OK) return false;
      started_ = true;
      std::string first;
      first.swap(pending_);
      return inflate_into(first.data(), first.size(), out);
    }
    return inflate_into(data, n, out);
  }

  bool ended() const { return ended_; }

 private:
  bool inflate_into(const char* data, std::size_t n, std::string& out) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));  // zlib's API is not const-correct
    z_.avail_in = static_cast<uInt>(n);
    for (;;) {
      if (out.size() > max_) return true;  // full: the rest is never decoded
      const std::size_t room = std::min<std::size_t>(max_ + 1 - out.size(), 64 * 1024);
      const std::size_t old = out.size();
      out.resize(old + room);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      z_.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      out.resize(old + room - z_.avail_out);
      if (rc == Z_STREAM_END) {
        // Concatenated gzip members are one body (RFC 1952 §2.2).
        if (coding_ == coding::gzip && z_.avail_in >= 2 && z_.next_in[0] == 0x1f && z_.next_in[1] == 0x8b) {
          if (inflateReset(&z_) != Z_OK) return false;
          continue;
        }
        ended_ = true;  // anything after the end is not part of the body
        return true;
      }
      if (rc == Z_BUF_ERROR) return true;  // no progress without more input
      if (rc != Z_OK) return false;
      if (z_.avail_out == 0) continue;  // more output may be waiting
      if (z_.avail_in == 0) return true;
    }
  }

  coding coding_;
  std::size_t max_;
  z_stream z_{};
  bool started_ = false;
  bool ended_ = false;
  std::string pending_;
};

struct hop {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string location;  // a redirect's Location, or empty
  std::string body;
  bool truncated = false;
  std::string address;
};

using hop_result = std::variant<hop, page_fetch_error>;

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

void close_now(tcp::socket& s) {
  beast::error_code ignored;  // the peer may already be gone; nothing to do about it
  s.shutdown(tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

// One GET on a connected (and, for https, handshaken) stream.
template <class Stream>
asio::awaitable<hop_result> exchange(Stream& stream, const checked_url& u, const page_fetch_options& o,
                                     steady::time_point end) {
  const auto& t = o.timeouts;
  auto& socket_layer = beast::get_lowest_layer(stream);

  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  const bool default_port = u.port == (u.scheme == "https" ? 443 : 80);
  const std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  req.set(http::field::host, default_port ? host : host + ":" + std::to_string(u.port));
  req.set(http::field::user_agent, o.user_agent.empty() ? std::string(default_user_agent) : o.user_agent);
  req.set(http::field::accept, accept_types);
  if (!o.accept_language.empty()) req.set(http::field::accept_language, o.accept_language);
  req.set(http::field::accept_encoding, "gzip, deflate");
  req.set(http::field::connection, "close");
  socket_layer.expires_after(step_budget(t.write, end));
  if (auto [ec, n] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable)); ec)
    co_return step_error("sending the request to", u, ec, t.write, end, t.total);

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(header_limit);
  parser.body_limit(boost::none);  // capped below, while reading, by what it decodes to
  socket_layer.expires_after(step_budget(t.read, end));
  if (auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable)); ec)
    co_return step_error("reading the response from", u, ec, t.read, end, t.total);

  hop out;
  const auto& head = parser.get();
  out.status = head.result_int();
  std::string_view encoding;
  for (const auto& field : head.base()) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    if (field.name() == http::field::content_type && out.content_type.empty()) out.content_type = field.value();
    if (field.name() == http::field::location && out.location.empty()) out.location = field.value();
    if (field.name() == http::field::content_encoding) encoding = trim(field.value());
  }
  if (is_redirect(out.status) && !out.location.empty()) {
    close_now(socket_layer.socket());  // a redirect's body is never read
    co_return out;
  }
  out.location.clear();

  auto coding = body_decoder::coding::identity;
  if (iequals(encoding, "gzip") || iequals(encoding, "x-gzip")) {
    coding = body_decoder::coding::gzip;
  } else if (iequals(encoding, "deflate")) {
    coding = body_decoder::coding::deflate;
  } else if (!encoding.empty() && !iequals(encoding, "identity")) {
    close_now(socket_layer.socket());
    co_return fail(fetch_failure::unsupported_encoding,
                   u.host + " sent the page with Content-Encoding \"" + bounded(encoding) +
                       "\", which is not decoded here (only gzip and deflate)");
  }

  body_decoder decoder(coding, o.max_body);
  std::array<char, 16 * 1024> piece{};
  std::size_t raw = 0;
  const std::size_t raw_cap = o.max_body + compressed_slack;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    // The read deadline is per piece: a site that keeps sending is bounded by the total.
    socket_layer.expires_after(step_budget(t.read, end));
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    const std::size_t got = piece.size() - parser.get().body().size;
    raw += got;
    if (!decoder.feed(piece.data(), got, out.body)) {
      close_now(socket_layer.socket());
      co_return fail(fetch_failure::network, u.host + " sent a corrupt " + std::string(encoding) + " body");
    }
    if (out.body.size() > o.max_body || (raw >= raw_cap && !parser.is_done())) {
      out.truncated = true;
      break;
    }
    if (decoder.ended()) break;  // bytes after the compressed stream's end are not the page
    if (ec == http::error::need_buffer) continue;  // the piece is full: the next one
    // A TLS peer that closes without close_notify while the body runs to the close: the
    // body ends there, as browsers take it (Beast's comment on stream_truncated).
    if (ec == asio::ssl::error::stream_truncated && parser.need_eof()) break;
    if (ec) co_return step_error("reading the page from", u, ec, t.read, end, t.total);
  }
  if (out.body.size() > o.max_body) out.body.resize(o.max_body);
  close_now(socket_layer.socket());  // never drain the rest; no close_notify round trip either
  co_return out;
}

// The client TLS context for these options, built once per thread: loading the system's
// roots costs ~20 ms, far more than a page's handshake on a near site. One io_context thread
// means one context in practice; nothing is shared between threads.
result<std::shared_ptr<asio::ssl::context>> client_context(const tls_options& tls) {
  thread_local std::string cached_pem;
  thread_local std::shared_ptr<asio::ssl::context> cached;
  if (cached && cached_pem == tls.extra_ca_pem) return cached;
  auto made = make_client_tls_context(tls, true);
  if (!made) return made.error();
  cached_pem = tls.extra_ca_pem;
  cached = *made;
  return cached;
}

// One hop: resolve once, keep the addresses the policy allows, connect to those only.
asio::awaitable<hop_result> fetch_hop(const checked_url& u, const page_fetch_options& o, const tls_options& tls,
                                      steady::time_point end) {
  const auto& t = o.timeouts;
  // Once per hop: the connection below goes to these addresses, never to the name again.
  boost::system::error_code not_an_ip;
  (void)asio::ip::make_address(u.host, not_an_ip);
  const auto budget = step_budget(t.resolve, end);
  auto resolving = o.resolve && not_an_ip ? o.resolve(u.host, u.port, budget)
                                          : detail::resolve_with_deadline(u.host, u.port, budget);
  auto resolved = co_await std::move(resolving);
  if (!resolved) {
    if (resolved.error() == errc::timeout) co_return step_error("resolving", u, resolved.error(), t.resolve, end, t.total);
    co_return fail(fetch_failure::no_address, u.host + " has no address (" + resolved.error().message() + ")");
  }
  std::vector<tcp::endpoint> allowed;
  std::string refused;
  for (const auto& ep : *resolved) {
    const auto why = address_refusal(ep.address(), ep.port(), o.policy);
    if (why.empty()) {
      allowed.push_back(ep);
    } else if (refused.size() < 200) {
      refused += (refused.empty() ? "" : ", ") + ep.address().to_string() + " (" + why + ")";
    }
  }
  if (allowed.empty())
    co_return fail(fetch_failure::forbidden_address, u.host + " resolves only to refused addresses: " + refused);

  auto ex = co_await asio::this_coro::executor;
  if (u.scheme == "http") {
    beast::tcp_stream stream(ex);
    stream.expires_after(step_budget(t.connect, end));
    auto [ec, ep] = co_await stream.async_connect(allowed, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return step_error("connecting to", u, ec, t.connect, end, t.total);
    auto r = co_await exchange(stream, u, o, end);
    if (auto* h = std::get_if<hop>(&r)) h->address = ep.address().to_string();
    co_return r;
  }

  auto ctx = client_context(tls);
  if (!ctx) co_return fail(fetch_failure::network, "TLS setup failed: " + ctx.error().message());
  tls_stream stream(ex, **ctx);
  if (auto ec = prepare_tls_stream(stream, u.host))
    co_return fail(fetch_failure::network, "TLS setup for " + u.host + " failed: " + ec.message());
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(step_budget(t.connect, end));
  auto [ec, ep] = co_await tcp_layer.async_connect(allowed, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return step_error("connecting to", u, ec, t.connect, end, t.total);
  tcp_layer.expires_after(step_budget(t.handshake, end));
  if (auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
      hec)
    co_return step_error("the TLS handshake with", u, hec, t.handshake, end, t.total);
  auto r = co_await exchange(stream, u, o, end);
  if (auto* h = std::get_if<hop>(&r)) h->address = ep.address().to_string();
  co_return r;
}

}  // namespace

std::string_view to_string(fetch_failure f) {
  switch (f) {
    case fetch_failure::bad_url: return "bad_url";
    case fetch_failure::insecure_scheme: return "insecure_scheme";
    case fetch_failure::forbidden_address: return "forbidden_address";
    case fetch_failure::no_address: return "no_address";
    case fetch_failure::too_many_redirects: return "too_many_redirects";
    case fetch_failure::timeout: return "timeout";
    case fetch_failure::network: return "network";
    case fetch_failure::unsupported_encoding: return "unsupported_encoding";
  }
  return "unknown";
}

asio::awaitable<std::variant<fetched_page, page_fetch_error>> fetch_page(std::string url, page_fetch_options options,
                                                                        tls_options tls) {
  const auto start = steady::now();
  const auto end = start + options.timeouts.total;
  auto first = inspect_url(url, options.policy);
  if (auto* r = std::get_if<url_refusal>(&first)) co_return from_refusal(*r, bounded(url) + " refused: ");
  checked_url current = std::get<checked_url>(std::move(first));

  for (int redirects = 0;; ++redirects) {
    auto result = co_await fetch_hop(current, options, tls, end);
    if (auto* e = std::get_if<page_fetch_error>(&result)) {
      core::log_debug("page_fetch", current.text + ": " + std::string(to_string(e->kind)) + ": " + e->detail);
      co_return std::move(*e);
    }
    hop& h = std::get<hop>(result);
    if (!h.location.empty()) {
      if (redirects >= options.max_redirects) {
        co_return fail(fetch_failure::too_many_redirects,
                       "more than " + std::to_string(options.max_redirects) + " redirects (the last to " +
                           bounded(h.location) + ")");
      }
      auto next = inspect_redirect(current, h.location, options.policy);
      if (auto* r = std::get_if<url_refusal>(&next))
        co_return from_refusal(*r, "redirect to " + bounded(h.location) + " refused: ");
      current = std::get<checked_url>(std::move(next));
      continue;
    }
    fetched_page page;
    page.url = std::move(current.text);
    page.status = h.status;
    page.headers = std::move(h.headers);
    page.content_type = std::move(h.content_type);
    page.body = std::move(h.body);
    page.truncated = h.truncated;
    page.redirects = redirects;
    page.address = std::move(h.address);
    page.elapsed = std::chrono::duration_cast<milliseconds>(steady::now() - start);
    co_return page;
  }
}

}  // namespace openclawd::net
