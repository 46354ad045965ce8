// The local chat channel: a Unix socket in the state directory (the directory is 0700,
// the socket 0600, so only the local user can reach it), one JSON object per line.
//   request:  {"chat":"local:default","message":"…"}   or   {"chat":"…","reset":true}
//   answer:   {"delta":"…"}…  {"restart":true} (drop what was shown)  {"done":true,"ok":…,"text":"…"}
// Messages of one chat are answered one at a time, in arrival order; chats run
// concurrently. Lives on the daemon's io_context thread.
#pragma once

#include "gateway/pipeline.hpp"
#include "net/asio.hpp"

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace openclawd::app {

class chat_server {
 public:
  chat_server(asio::any_io_executor ex, std::filesystem::path socket_path, gateway::pipeline& pipe);
  ~chat_server();
  // Binds the socket (replacing a stale one) and accepts connections. Returns "" or why not.
  std::string start();
  void stop();

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::local::stream_protocol::socket s);
  asio::awaitable<void> lock_chat(const std::string& chat);
  void unlock_chat(const std::string& chat);

  struct lane {
    bool busy = false;
    std::deque<std::shared_ptr<asio::steady_timer>> waiting;
  };

  asio::any_io_executor ex_;
  std::filesystem::path path_;
  gateway::pipeline& pipe_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::map<std::string, lane> lanes_;
};

}  // namespace openclawd::app
