// The Hub's API on top of net::http_download. Answers are decoded here (JSON of refs and
// tree, the X-Linked-* headers) and leave as native values: core::hub_file, hub_location.
#include "app/hub_client.hpp"

#include "core/log.hpp"
#include "net/url.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

#include <sys/stat.h>

namespace openclawd::app {
namespace {

hub_error err(hub_error::kind k, std::string m) { return hub_error{k, std::move(m)}; }

// Path segments as the Hub expects them in a URL: unreserved bytes and '/' kept, the rest %XX.
std::string encode_path(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string origin_of(const std::string& url) {
  auto u = net::parse_url(url);
  return u ? u->origin() : std::string();
}

// "W/\"abc\"" or "\"abc\"" → "abc".
std::string unquote_etag(std::string_view v) {
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The `rel="next"` target of a Link header (the Hub pages long tree listings).
std::string next_link(std::string_view link) {
  std::size_t pos = 0;
  while (pos < link.size()) {
    const auto open = link.find('<', pos);
    if (open == std::string_view::npos) break;
    const auto close = link.find('>', open);
    if (close == std::string_view::npos) break;
    const auto end = link.find(',', close);
    const auto params = link.substr(close + 1, (end == std::string_view::npos ? link.size() : end) - close - 1);
    if (params.find("rel=\"next\"") != std::string_view::npos || params.find("rel=next") != std::string_view::npos)
      return std::string(link.substr(open + 1, close - open - 1));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return {};
}

hub_error status_error(unsigned status, const std::string& what, const std::string& body) {
  std::string detail;
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) detail = ": " + j["error"].get<std::string>();
  if (status == 401 || status == 403)
    return err(hub_error::kind::unauthorized,
               what + " needs a token the Hub accepts (HTTP " + std::to_string(status) + detail +
                   "); set hub.token_file or $HF_TOKEN, and accept the model's terms on its page if it is gated");
  if (status == 404) return err(hub_error::kind::not_found, what + " was not found on the Hub (HTTP 404" + detail + ")");
  if (status == 429 || status >= 500)
    return err(hub_error::kind::network, what + ": the Hub answered HTTP " + std::to_string(status) + detail);
  return err(hub_error::kind::protocol, what + ": unexpected HTTP " + std::to_string(status) + detail);
}

hub_error net_error(const std::string& what, const boost::system::error_code& ec) {
  return err(hub_error::kind::network, what + ": " + ec.message());
}

}  // namespace

void throw_exception_from_error(const hub_error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

hub_client::hub_client(std::string endpoint, std::string token, std::shared_ptr<asio::ssl::context> tls,
                       net::download_timeouts timeouts)
    : endpoint_(std::move(endpoint)), token_(std::move(token)), tls_(std::move(tls)), timeouts_(timeouts) {
  if (!endpoint_.ends_with('/')) endpoint_ += '/';
}

std::vector<std::pair<std::string, std::string>> hub_client::headers_for(const std::string& url) const {
  std::vector<std::pair<std::string, std::string>> h;
  // Only to the Hub itself: a redirect may name a CDN or another host, which must not see it.
  if (!token_.empty() && origin_of(url) == origin_of(endpoint_)) h.emplace_back("Authorization", "Bearer " + token_);
  return h;
}

asio::awaitable<hub_result<std::string>> hub_client::get_json_text(
    std::string url, std::string what, std::vector<std::pair<std::string, std::string>>* headers_out) {
  constexpr std::size_t limit = 64 * 1024 * 1024;  // a tree page of a huge repository is a few MB
  std::string body;
  net::download_request req{http::verb::get, url, headers_for(url), {}};
  req.headers.emplace_back("Accept", "application/json");
  // Built outside the co_await: GCC 12 mishandles temporaries in a co_await expression.
  net::download_sink sink = [&body](std::string_view piece) {
    if (body.size() + piece.size() > limit) return make_error_code(http::error::body_limit);
    body.append(piece);
    return boost::system::error_code{};
  };
  auto res = co_await net::http_download(tls_, req, timeouts_, sink);
  if (!res) co_return net_error(what, res.error());
  if (res->status != 200) co_return status_error(res->status, what, res->body);
  if (headers_out) *headers_out = res->headers;
  co_return body;
}

asio::awaitable<hub_result<std::string>> hub_client::main_revision(std::string repo_id) {
  const std::string what = "the repository " + repo_id;
  const std::string url = endpoint_ + "api/models/" + encode_path(repo_id) + "/refs";
  auto text = co_await get_json_text(url, what);
  if (!text) co_return text.error();
  const auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("branches") || !j["branches"].is_array())
    co_return err(hub_error::kind::protocol, what + ": the Hub's refs answer has no branches");
  std::string first;
  for (const auto& b : j["branches"]) {
    if (!b.is_object() || !b.contains("name") || !b["name"].is_string() || !b.contains("targetCommit") ||
        !b["targetCommit"].is_string())
      continue;
    const std::string commit = b["targetCommit"];
    // A commit is 40 hex digits; anything else could reach a path of the cache.
    if (commit.size() != 40 || !std::all_of(commit.begin(), commit.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
      continue;
    if (b["name"] == "main") co_return lower(commit);
    if (first.empty()) first = lower(commit);
  }
  if (first.empty()) co_return err(hub_error::kind::protocol, what + " has no branch with a valid commit");
  co_return first;
}

asio::awaitable<hub_result<std::vector<core::hub_file>>> hub_client::list_files(std::string repo_id, std::string revision) {
  const std::string what = "the file list of " + repo_id + "@" + revision.substr(0, 12);
  std::string url = endpoint_ + "api/models/" + encode_path(repo_id) + "/tree/" + encode_path(revision) + "?recursive=true";
  std::vector<core::hub_file> out;
  for (int page = 0; page < 100 && !url.empty(); ++page) {
    std::vector<std::pair<std::string, std::string>> headers;
    auto text = co_await get_json_text(url, what, &headers);
    if (!text) co_return text.error();
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_array()) co_return err(hub_error::kind::protocol, what + ": the Hub's answer is not a list");
    for (const auto& item : j) {
      if (!item.is_object() || item.value("type", "") != "file" || !item.contains("path") || !item["path"].is_string())
        continue;
      core::hub_file f;
      f.path = item["path"];
      // It becomes a path under the cache: a listing must not reach outside it.
      if (!core::is_safe_repo_path(f.path)) continue;
      f.size = item.value("size", std::uint64_t{0});
      if (item.contains("lfs") && item["lfs"].is_object()) {
        const auto& lfs = item["lfs"];
        if (lfs.contains("oid") && lfs["oid"].is_string() && is_sha256_hex(lfs["oid"].get<std::string>()))
          f.sha256 = lower(lfs["oid"]);
        if (lfs.contains("size") && lfs["size"].is_number_unsigned()) f.size = lfs["size"];
      }
      out.push_back(std::move(f));
    }
    url.clear();
    for (const auto& [k, v] : headers)
      if (lower(k) == "link") url = next_link(v);
    if (!url.empty() && url.front() == '/') url = endpoint_.substr(0, endpoint_.size() - 1) + url;
    // A next page elsewhere than the Hub is not followed: the token would go with it.
    if (!url.empty() && origin_of(url) != origin_of(endpoint_)) url.clear();
  }
  co_return out;
}

asio::awaitable<hub_result<hub_location>> hub_client::locate(std::string repo_id, std::string revision, std::string path) {
  const std::string what = repo_id + "/" + path;
  std::string url = endpoint_ + encode_path(repo_id) + "/resolve/" + encode_path(revision) + "/" + encode_path(path);
  hub_location loc;
  for (int hop = 0; hop < 6; ++hop) {
    const net::download_request head{http::verb::head, url, headers_for(url), {}};
    const net::download_sink no_body = [](std::string_view) { return boost::system::error_code{}; };
    auto res = co_await net::http_download(tls_, head, timeouts_, no_body);
    if (!res) co_return net_error(what, res.error());
    // The Hub sends the LFS facts with the redirect; a mirror may send them with the 200.
    if (auto etag = res->header("X-Linked-Etag")) {
      const auto e = lower(unquote_etag(*etag));
      if (is_sha256_hex(e)) loc.sha256 = e;
    }
    if (auto size = res->header("X-Linked-Size")) loc.size = std::strtoull(std::string(*size).c_str(), nullptr, 10);
    if (res->status / 100 == 3) {
      auto location = res->header("Location");
      if (!location || location->empty()) co_return err(hub_error::kind::protocol, what + ": a redirect without Location");
      std::string next(*location);
      if (next.front() == '/') {
        // Relative: the same Hub under another name (a renamed repository). Follow it.
        url = endpoint_.substr(0, endpoint_.size() - 1) + next;
        continue;
      }
      loc.url = next;  // absolute: the CDN holds the bytes
      co_return loc;
    }
    if (res->status != 200) co_return status_error(res->status, what, res->body);
    if (loc.size == 0)
      if (auto len = res->header("Content-Length")) loc.size = std::strtoull(std::string(*len).c_str(), nullptr, 10);
    loc.url = url;
    co_return loc;
  }
  co_return err(hub_error::kind::protocol, what + ": too many redirects");
}

asio::awaitable<result<net::download_response>> hub_client::fetch(
    std::string url, std::uint64_t offset, std::function<boost::system::error_code(const net::download_response&)> on_headers,
    net::download_sink sink) {
  net::download_request req{http::verb::get, url, headers_for(url), std::move(on_headers)};
  if (offset > 0) req.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
  co_return co_await net::http_download(tls_, std::move(req), timeouts_, std::move(sink));
}

hub_result<std::string> read_hub_token(const std::filesystem::path& token_file) {
  auto trimmed = [](std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
    return s.substr(i);
  };
  if (token_file.empty()) {
    const char* env = std::getenv("HF_TOKEN");
    return trimmed(env ? env : "");
  }
  struct ::stat st {};
  if (::stat(token_file.c_str(), &st) != 0)
    return err(hub_error::kind::unauthorized, "hub.token_file: " + token_file.string() + " not found");
  if ((st.st_mode & 077) != 0)
    return err(hub_error::kind::unauthorized, "hub.token_file: " + token_file.string() +
                                                  " is readable by others; run: chmod 600 " + token_file.string());
  std::ifstream in(token_file);
  std::string line;
  std::getline(in, line);
  return trimmed(line);
}

}  // namespace openclawd::app
