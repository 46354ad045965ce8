#include "net/step_deadline.hpp"

#include "net/net_error.hpp"
#include "net/url.hpp"

#include <algorithm>
#include <memory>
#include <optional>

namespace openclawd::net::detail {

using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

milliseconds step_budget(milliseconds step, steady::time_point end) {
  const auto left = std::chrono::duration_cast<milliseconds>(end - steady::now());
  return std::clamp(left, milliseconds(0), step);
}

boost::system::error_code normalize_timeout(boost::system::error_code ec) {
  if (ec == beast::error::timeout) return make_error_code(errc::timeout);
  return ec;
}

// getaddrinfo runs on Asio's resolver thread and cannot be interrupted: resolver.cancel()
// only takes effect when it returns. So the race is run by hand: the caller resumes at the
// deadline, and a late answer lands in the shared state that nobody reads any more.
asio::awaitable<result<std::vector<tcp::endpoint>>> resolve_with_deadline(const std::string& host, std::uint16_t port,
                                                                         milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  if (is_ip_literal(host)) {  // no DNS, no resolver thread
    co_return std::vector<tcp::endpoint>{tcp::endpoint(asio::ip::make_address(host), port)};
  }
  struct state {
    explicit state(const asio::any_io_executor& e) : resolver(e), timer(e) {}
    tcp::resolver resolver;
    asio::steady_timer timer;
    std::optional<boost::system::error_code> ec;  // set when the resolver has answered
    std::vector<tcp::endpoint> endpoints;
  };
  auto st = std::make_shared<state>(ex);
  st->timer.expires_after(timeout);
  st->resolver.async_resolve(host, std::to_string(port),
                             [st](boost::system::error_code ec, const tcp::resolver::results_type& results) {
                               st->ec = ec;
                               for (const auto& r : results) st->endpoints.push_back(r.endpoint());
                               st->timer.cancel();
                             });
  auto [wait_ec] = co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!st->ec) {
    st->resolver.cancel();
    // Our own cancellation (the caller gave up) is not a timeout.
    if (wait_ec == asio::error::operation_aborted) co_return boost::system::error_code(asio::error::operation_aborted);
    co_return make_error_code(errc::timeout);
  }
  if (*st->ec) co_return *st->ec;
  if (st->endpoints.empty()) co_return make_error_code(net_errc::no_address);
  co_return std::move(st->endpoints);
}

}  // namespace openclawd::net::detail
