// An in-process HTTP/1.1 server for tests, plain or TLS, bound to 127.0.0.1:0 only. It
// records every request and answers from a handler the test sets (status, headers, body,
// or never answer at all); a "silent" server accepts connections and never reads them.
// It runs on its own thread and io_context so that a test can drive a client (or a child
// process) from the main thread; requests() and the handler are guarded by a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace openclawd::test {

struct recorded_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string sni;  // TLS: the server name the client asked for; empty when none was sent
  std::chrono::steady_clock::time_point received;  // when the whole request had arrived

  std::optional<std::string> header(std::string_view name) const;  // case-insensitive
};

struct canned_response {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;       // Transfer-Encoding: chunked instead of Content-Length
  bool never_answer = false;  // read the request, then keep the connection open in silence
  // With server_options::keep_alive: answer with keep-alive, then close the connection anyway
  // (what a server's idle timeout does to a kept connection, at once).
  bool close_after = false;
  // Hostile sites (the page fetcher's tests): after the status line and `headers`, send
  // `body` as chunks forever, until the client goes away; or send the headers (with a
  // Content-Length of 1 GB) and then nothing at all.
  bool endless = false;
  bool stall_after_headers = false;
};

struct server_options {
  std::optional<std::string> tls_cert_pem;  // with tls_key_pem: serve HTTPS
  std::optional<std::string> tls_key_pem;
  bool silent = false;  // accept TCP connections, never read or answer (no TLS handshake either)
  // Serve further requests on a connection while the client asks for keep-alive (default:
  // one request per connection, answered with Connection: close).
  bool keep_alive = false;
};

class local_http_server {
 public:
  using handler = std::function<canned_response(const recorded_request&)>;

  explicit local_http_server(handler h, server_options options = {});
  ~local_http_server();  // stops the thread; open connections are closed
  local_http_server(const local_http_server&) = delete;
  local_http_server& operator=(const local_http_server&) = delete;

  unsigned short port() const { return port_; }
  // "http(s)://127.0.0.1:PORT" + path
  std::string url(std::string_view path = "/") const;

  void set_handler(handler h);
  std::vector<recorded_request> requests() const;
  std::size_t request_count() const;
  std::size_t connection_count() const { return connections_.load(); }
  // Connections closed by canned_response::close_after (the FIN has been sent).
  std::size_t closed_after_answer() const { return closed_after_answer_.load(); }
  int max_concurrent_requests() const { return max_concurrent_.load(); }

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
  unsigned short port_ = 0;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> closed_after_answer_{0};
  std::atomic<int> active_{0};
  std::atomic<int> max_concurrent_{0};
  mutable std::mutex mutex_;
  handler handler_;
  std::vector<recorded_request> requests_;
  bool tls_ = false;
  std::thread thread_;

  friend struct impl;
};

// A handler that always gives the same answer.
local_http_server::handler always(canned_response r);

// The text of tests/fixtures/<relative> (the path is compiled in as OPENCLAWD_TEST_FIXTURES).
std::string read_fixture(const std::string& relative);

}  // namespace openclawd::test
