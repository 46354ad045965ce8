#include "gateway/search_adapter.hpp"

namespace openclawd::gateway {

search_function search_with(tools::web_search& tool, std::size_t max_chars) {
  return [&tool, max_chars](std::string query) -> asio::awaitable<search_outcome> {
    const auto found = co_await tool.search(std::move(query));
    search_outcome out;
    out.available = found.status == tools::search_status::ok;
    out.results = static_cast<int>(found.results.size());
    out.reason = found.reason;
    if (out.available) {
      out.rendered = tools::render_results_for_model(found, max_chars);
      for (const auto& r : found.results) out.links.emplace_back(r.title, r.url);
    }
    co_return out;
  };
}

read_function read_with(tools::web_reader& reader) {
  return [&reader](std::vector<std::string> urls) -> asio::awaitable<std::vector<tools::page_read>> {
    co_return co_await reader.read_all(std::move(urls));
  };
}

}  // namespace openclawd::gateway
