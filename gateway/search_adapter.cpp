#include "gateway/search_adapter.hpp"

namespace openclawd::gateway {

search_function search_with(tools::web_search& tool, std::size_t max_chars) {
  return [&tool, max_chars](std::string query) -> asio::awaitable<search_outcome> {
    const auto found = co_await tool.search(std::move(query));
    search_outcome out;
    out.available = found.status == tools::search_status::ok;
    out.results = static_cast<int>(found.results.size());
    out.reason = found.reason;
    if (out.available) out.rendered = tools::render_results_for_model(found, max_chars);
    co_return out;
  };
}

}  // namespace openclawd::gateway
