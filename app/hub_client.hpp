// The Hugging Face Hub's model API, as llama.cpp (common/hf-cache.cpp, download.cpp) and
// huggingface_hub (file_download.py) use it, against `hub.endpoint` (the Hub, a mirror, or a
// fake on loopback in tests):
//   GET  {endpoint}api/models/{owner}/{repo}/refs               → {"branches":[{"name","targetCommit"}]}
//   GET  {endpoint}api/models/{owner}/{repo}/tree/{rev}?recursive=true → [{"type","path","size","lfs":{"oid","size"}}]
//   HEAD {endpoint}{owner}/{repo}/resolve/{rev}/{path}          → 302 Location (the CDN), X-Linked-Etag
//                                                                 (the LFS SHA-256), X-Linked-Size
//   GET  <Location> with Range: bytes=N-                         → 206 and the rest of the file
// The token goes only to the endpoint's own origin, never to the CDN a redirect names, and is
// never logged. One client belongs to one io_context thread. Errors are hub_error values.
#pragma once

#include "core/model_ref.hpp"
#include "net/asio.hpp"
#include "net/http_download.hpp"

#include <boost/system/result.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace openclawd::app {

struct hub_error {
  enum class kind {
    not_found,     // no such repository, revision, file or quant
    unauthorized,  // the Hub wants a token (a gated or private repository), or refused it
    network,       // could not connect, a deadline, a cut transfer (worth a retry)
    protocol,      // an answer that does not make sense (bad JSON, a wrong range)
    integrity,     // the SHA-256 or the size does not match what the Hub published
    disk,          // not enough free space, or a write failed
    offline,       // --offline and the model is not in the cache
  };
  kind what = kind::protocol;
  std::string message;  // one sentence for the user; never holds the token
};

[[noreturn]] void throw_exception_from_error(const hub_error& e, const boost::source_location& loc);

template <class T>
using hub_result = boost::system::result<T, hub_error>;

// Where a file's bytes are, and what they must hash to.
struct hub_location {
  std::string url;     // after the Hub's relative redirects: the CDN's URL, or the resolve URL itself
  std::uint64_t size = 0;
  std::string sha256;  // from X-Linked-Etag; empty for a file not stored in LFS
};

class hub_client {
 public:
  // `endpoint` ends in '/'. `tls` may be null when every URL is loopback http://.
  hub_client(std::string endpoint, std::string token, std::shared_ptr<asio::ssl::context> tls,
             net::download_timeouts timeouts = {});

  // The commit `main` points at (else the first branch), as llama.cpp picks it.
  asio::awaitable<hub_result<std::string>> main_revision(std::string repo_id);
  // Every file of the repository at `revision` (recursive; the Hub's pages followed).
  asio::awaitable<hub_result<std::vector<core::hub_file>>> list_files(std::string repo_id, std::string revision);
  // HEAD on the resolve URL; relative redirects (a renamed repository) are followed, an
  // absolute one (the CDN) is where the bytes are.
  asio::awaitable<hub_result<hub_location>> locate(std::string repo_id, std::string revision, std::string path);
  // GET `url` from byte `offset` (a Range request when > 0) into `sink`; `on_headers` sees the
  // status and headers first (did the server honour the range?).
  asio::awaitable<result<net::download_response>> fetch(
      std::string url, std::uint64_t offset,
      std::function<boost::system::error_code(const net::download_response&)> on_headers, net::download_sink sink);

  const std::string& endpoint() const { return endpoint_; }

 private:
  std::vector<std::pair<std::string, std::string>> headers_for(const std::string& url) const;
  asio::awaitable<hub_result<std::string>> get_json_text(std::string url, std::string what,
                                                         std::vector<std::pair<std::string, std::string>>* headers_out = nullptr);

  std::string endpoint_;
  std::string token_;
  std::shared_ptr<asio::ssl::context> tls_;
  net::download_timeouts timeouts_;
};

// The token for the Hub: the first line of `token_file` when set, else $HF_TOKEN; empty for
// none. A token file others can read is refused (the message never holds the token).
hub_result<std::string> read_hub_token(const std::filesystem::path& token_file);

}  // namespace openclawd::app
