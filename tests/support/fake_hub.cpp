// The fake Hub. Answers are written as raw HTTP/1.1 text, one request per connection
// (Connection: close), so that a fault can stop a body at an exact byte.
#include "tests/support/fake_hub.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace openclawd::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct fake_hub::impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  fake_hub* owner = nullptr;

  struct answer {
    unsigned status = 200;
    std::string reason = "OK";
    std::vector<std::pair<std::string, std::string>> headers;
    std::shared_ptr<const std::string> body;  // may be null
    std::uint64_t from = 0, length = 0;       // the slice of *body to send
    bool flip = false;                        // flip the first byte of the file (if inside the slice)
    std::optional<std::uint64_t> cut_after;   // close after this many body bytes
    bool blob = false;                        // a file's bytes (counted in bytes_served)
  };

  static answer text(unsigned status, std::string reason, std::string body, std::string type = "application/json") {
    answer a;
    a.status = status;
    a.reason = std::move(reason);
    a.headers.emplace_back("Content-Type", std::move(type));
    auto b = std::make_shared<const std::string>(std::move(body));
    a.length = b->size();
    a.body = std::move(b);
    return a;
  }
  static answer not_found(const std::string& what) {
    return text(404, "Not Found", nlohmann::json{{"error", what}}.dump());
  }

  static std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == sep) {
        out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    out.push_back(cur);
    return out;
  }

  answer route(const std::string& method, const std::string& full_target, const std::string& range,
               const std::string& authorization) {
    std::lock_guard lock(owner->mutex_);
    owner->requests_.push_back({method, full_target, range, authorization});
    const std::string target = full_target.substr(0, full_target.find('?'));
    const auto parts = split(target.substr(1), '/');
    const bool api = parts.size() >= 4 && parts[0] == "api" && parts[1] == "models";
    if (!owner->token_.empty() && target.rfind("/cdn/", 0) != 0 && authorization != "Bearer " + owner->token_)
      return text(401, "Unauthorized", nlohmann::json{{"error", "Invalid credentials in Authorization header"}}.dump());
    if (api) {
      const std::string repo_id = parts[2] + "/" + parts[3];
      const auto r = owner->repos_.find(repo_id);
      if (r == owner->repos_.end()) return not_found("Repository not found");
      if (parts.size() == 5 && parts[4] == "refs") {
        nlohmann::json j = {{"branches", {{{"name", "main"}, {"ref", "refs/heads/main"},
                                           {"targetCommit", r->second.revisions.back()}}}},
                            {"converts", nlohmann::json::array()},
                            {"tags", nlohmann::json::array()}};
        return text(200, "OK", j.dump());
      }
      if (parts.size() == 6 && parts[4] == "tree") {
        const auto files = r->second.files.find(parts[5]);
        if (files == r->second.files.end()) return not_found("Invalid rev id: " + parts[5]);
        nlohmann::json list = nlohmann::json::array();
        for (const auto& [path, content] : files->second) {
          const std::string sha = owner->sha_of(content);
          list.push_back({{"type", "file"}, {"oid", sha.substr(0, 40)}, {"size", content->size()}, {"path", path},
                          {"lfs", {{"oid", sha}, {"size", content->size()}, {"pointerSize", 134}}}});
        }
        return text(200, "OK", list.dump());
      }
      return not_found("Sorry, we can't find the page you are looking for.");
    }
    if (parts.size() >= 5 && parts[2] == "resolve") {
      const std::string repo_id = parts[0] + "/" + parts[1];
      const auto r = owner->repos_.find(repo_id);
      if (r == owner->repos_.end()) return not_found("Repository not found");
      const std::string rev = parts[3] == "main" ? r->second.revisions.back() : parts[3];
      const auto files = r->second.files.find(rev);
      if (files == r->second.files.end()) return not_found("Invalid rev id: " + rev);
      std::string path;
      for (std::size_t i = 4; i < parts.size(); ++i) path += (i > 4 ? "/" : "") + parts[i];
      const auto f = files->second.find(path);
      if (f == files->second.end()) return not_found("Entry not found");
      const std::string sha = owner->sha_of(f->second);
      answer a;
      a.status = 302;
      a.reason = "Found";
      const auto cdn = owner->cdn_port_ ? owner->cdn_port_ : owner->port_;
      a.headers = {{"Location", "http://127.0.0.1:" + std::to_string(cdn) + "/cdn/" + sha},
                   {"X-Linked-Etag", "\"" + sha + "\""},
                   {"X-Linked-Size", std::to_string(f->second->size())},
                   {"X-Repo-Commit", rev},
                   {"ETag", "W/\"" + sha.substr(0, 40) + "\""}};
      return a;
    }
    if (parts.size() == 2 && parts[0] == "cdn") {
      const auto b = owner->blobs_.find(parts[1]);
      if (b == owner->blobs_.end()) return not_found("no such object");
      answer a;
      a.blob = true;
      a.body = b->second;
      a.flip = owner->corrupt_sha_.count(parts[1]) != 0;
      a.headers = {{"Accept-Ranges", "bytes"}, {"Content-Type", "binary/octet-stream"}, {"ETag", "\"" + parts[1] + "\""}};
      const std::uint64_t size = b->second->size();
      std::uint64_t from = 0;
      if (!range.empty() && !owner->ignore_ranges_ && range.rfind("bytes=", 0) == 0) {
        from = std::stoull(range.substr(6));
        if (from >= size) {
          auto r416 = text(416, "Range Not Satisfiable", "");
          r416.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
          return r416;
        }
        a.status = 206;
        a.reason = "Partial Content";
        a.headers.emplace_back("Content-Range",
                               "bytes " + std::to_string(from) + "-" + std::to_string(size - 1) + "/" + std::to_string(size));
      }
      a.from = from;
      a.length = size - from;
      if (method == "GET" && owner->cut_after_) {
        a.cut_after = owner->cut_after_;
        owner->cut_after_.reset();
      }
      return a;
    }
    return not_found("Sorry, we can't find the page you are looking for.");
  }

  asio::awaitable<void> session(tcp::socket socket) {
    try {
      beast::flat_buffer buffer;
      http::request_parser<http::empty_body> parser;
      auto [ec, n] = co_await http::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      const auto& req = parser.get();
      const std::string method(req.method_string());
      answer a = route(method, std::string(req.target()), std::string(req[http::field::range]),
                       std::string(req[http::field::authorization]));
      std::string head = "HTTP/1.1 " + std::to_string(a.status) + " " + a.reason + "\r\n";
      for (const auto& [k, v] : a.headers) head += k + ": " + v + "\r\n";
      head += "Content-Length: " + std::to_string(a.length) + "\r\nConnection: close\r\n\r\n";
      co_await asio::async_write(socket, asio::buffer(head), asio::use_awaitable);
      if (method != "HEAD" && a.body && a.length > 0) {
        std::uint64_t sent = 0;
        const std::uint64_t limit = a.cut_after ? std::min(*a.cut_after, a.length) : a.length;
        std::string flipped;  // the slice holding the flipped byte, when corrupting
        std::uint64_t bps = 0;
        {
          std::lock_guard lock(owner->mutex_);
          bps = a.blob ? owner->throttle_bps_ : 0;
        }
        const std::uint64_t piece_max = bps ? std::max<std::uint64_t>(bps / 10, 1) : (1 << 20);
        while (sent < limit) {
          const std::uint64_t at = a.from + sent;
          const std::size_t n_piece = static_cast<std::size_t>(std::min<std::uint64_t>(piece_max, limit - sent));
          if (bps) {  // a slow link: a tenth of a second per piece
            asio::steady_timer pause(ioc, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::use_awaitable);
          }
          asio::const_buffer piece(a.body->data() + at, n_piece);
          // The byte in the middle of the file is the one that lies.
          const std::uint64_t bad = a.body->size() / 2;
          if (a.flip && bad >= at && bad < at + n_piece) {
            flipped.assign(a.body->data() + at, n_piece);
            flipped[bad - at] = static_cast<char>(flipped[bad - at] ^ 0x01);
            piece = asio::buffer(flipped);
          }
          co_await asio::async_write(socket, piece, asio::use_awaitable);
          sent += n_piece;
          if (a.blob) owner->bytes_served_ += n_piece;
        }
      }
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
    } catch (const std::exception&) {
      // The client went away mid-answer (a test that cut it, or a cancelled pull): nothing to do.
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }
};

fake_hub::fake_hub() : impl_(std::make_unique<impl>()) {
  impl_->owner = this;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  thread_ = std::thread([this] { impl_->ioc.run(); });
}

fake_hub::~fake_hub() {
  impl_->ioc.stop();
  if (thread_.joinable()) thread_.join();
}

std::string fake_hub::sha_of(const std::shared_ptr<const std::string>& blob) const { return shas_.at(blob.get()); }

std::string fake_hub::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

std::string fake_hub::sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

std::string fake_hub::new_revision(const std::string& repo_id) {
  std::lock_guard lock(mutex_);
  auto& r = repos_[repo_id];
  const std::string rev = sha256_hex(repo_id + "#" + std::to_string(++revision_counter_)).substr(0, 40);
  // A commit keeps the files of its parent, as a commit that adds files does.
  std::map<std::string, std::shared_ptr<const std::string>> inherited;
  if (!r.revisions.empty()) inherited = r.files[r.revisions.back()];
  r.revisions.push_back(rev);
  r.files[rev] = std::move(inherited);
  return rev;
}

std::string fake_hub::revision(const std::string& repo_id) const {
  std::lock_guard lock(mutex_);
  const auto r = repos_.find(repo_id);
  return r == repos_.end() || r->second.revisions.empty() ? std::string() : r->second.revisions.back();
}

void fake_hub::add_file(const std::string& repo_id, const std::string& path, std::string content) {
  if (revision(repo_id).empty()) new_revision(repo_id);
  auto blob = std::make_shared<const std::string>(std::move(content));
  const std::string sha = sha256_hex(*blob);
  std::lock_guard lock(mutex_);
  shas_[blob.get()] = sha;
  auto& r = repos_[repo_id];
  r.files[r.revisions.back()][path] = blob;
  blobs_[sha] = blob;
}

void fake_hub::add_file_from(const std::string& repo_id, const std::string& path, const std::string& local_file) {
  std::ifstream in(local_file, std::ios::binary);
  if (!in) throw std::runtime_error("fake_hub: cannot read " + local_file);
  std::stringstream ss;
  ss << in.rdbuf();
  add_file(repo_id, path, ss.str());
}

void fake_hub::cut_next_download_after(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  cut_after_ = bytes;
}

void fake_hub::corrupt(const std::string& path) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, r] : repos_)
    for (const auto& [rev, files] : r.files)
      if (auto f = files.find(path); f != files.end()) corrupt_sha_[sha_of(f->second)] = true;
}

void fake_hub::ignore_ranges(bool on) {
  std::lock_guard lock(mutex_);
  ignore_ranges_ = on;
}

void fake_hub::redirect_downloads_to(unsigned short port) {
  std::lock_guard lock(mutex_);
  cdn_port_ = port;
}

void fake_hub::throttle(std::uint64_t bytes_per_second) {
  std::lock_guard lock(mutex_);
  throttle_bps_ = bytes_per_second;
}

void fake_hub::require_token(const std::string& token) {
  std::lock_guard lock(mutex_);
  token_ = token;
}

std::vector<fake_hub::request_record> fake_hub::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

}  // namespace openclawd::test
