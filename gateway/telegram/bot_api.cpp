#include "gateway/telegram/bot_api.hpp"

namespace openclawd::gateway::telegram {

using nlohmann::json;

bot_api::bot_api(net::https_client http, std::string api_base, std::string token)
    : http_(std::move(http)), base_(std::move(api_base)), token_(std::move(token)) {
  while (base_.ends_with('/')) base_.pop_back();
}

std::string bot_api::redacted_token() const {
  const auto colon = token_.find(':');
  return (colon == std::string::npos ? std::string("?") : token_.substr(0, colon)) + ":***";
}

asio::awaitable<api_result<json>> bot_api::call(std::string method, json params, std::chrono::milliseconds timeout) {
  net::https_request req;
  req.method = http::verb::post;
  req.url = base_ + "/bot" + token_ + "/" + method;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = params.dump(-1, ' ', false, json::error_handler_t::replace);
  net::https_options opt;
  opt.timeouts.total = timeout;
  opt.timeouts.read = timeout;
  opt.body_limit = 8 * 1024 * 1024;  // 100 updates of long messages
  bool written = false;
  opt.request_written = &written;
  auto r = co_await http_.request(std::move(req), opt);
  if (!r) {
    api_error e;
    e.what = api_error::kind::transport;
    e.transport_error = r.error();
    e.ambiguous = written;
    co_return e;
  }
  co_return decode_response(r->status, r->body, r->header("Retry-After"));
}

}  // namespace openclawd::gateway::telegram
