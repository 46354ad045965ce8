#include "app/chat_server.hpp"

#include "core/log.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

namespace openclawd::app {
namespace {
using nlohmann::json;
constexpr std::size_t max_request_bytes = 1 << 20;  // a message larger than 1 MiB is refused

asio::awaitable<bool> write_line(asio::local::stream_protocol::socket& s, const json& j) {
  const std::string line = j.dump() + "\n";
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(line), asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

}  // namespace

chat_server::chat_server(asio::any_io_executor ex, std::filesystem::path socket_path, gateway::pipeline& pipe)
    : ex_(ex), path_(std::move(socket_path)), pipe_(pipe), acceptor_(ex) {}

chat_server::~chat_server() { stop(); }

std::string chat_server::start() {
  std::error_code fec;
  std::filesystem::remove(path_, fec);  // a socket left by a daemon that was killed
  boost::system::error_code ec;
  const asio::local::stream_protocol::endpoint ep(path_.string());
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + path_.string() + ": " + ec.message();
  ::chmod(path_.c_str(), 0600);
  asio::co_spawn(ex_, accept_loop(), asio::detached);  // accept_loop handles its own errors
  return {};
}

void chat_server::stop() {
  boost::system::error_code ec;
  if (acceptor_.is_open()) {
    acceptor_.close(ec);
    std::error_code fec;
    std::filesystem::remove(path_, fec);
  }
}

asio::awaitable<void> chat_server::accept_loop() {
  for (;;) {
    auto [ec, s] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // closed by stop()
    asio::co_spawn(ex_, serve(std::move(s)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        core::log_error("chat", std::string("connection failed: ") + ex.what());
      }
    });
  }
}

asio::awaitable<void> chat_server::lock_chat(const std::string& chat) {
  auto& l = lanes_[chat];
  if (!l.busy) {
    l.busy = true;
    co_return;
  }
  auto t = std::make_shared<asio::steady_timer>(ex_, asio::steady_timer::time_point::max());
  l.waiting.push_back(t);
  // unlock_chat() hands the lane over by cancelling this timer.
  co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
}

void chat_server::unlock_chat(const std::string& chat) {
  auto& l = lanes_[chat];
  if (l.waiting.empty()) {
    lanes_.erase(chat);
    return;
  }
  auto next = l.waiting.front();
  l.waiting.pop_front();
  next->cancel();  // `busy` stays true: the lane passes to the next message
}

asio::awaitable<void> chat_server::serve(asio::local::stream_protocol::socket s) {
  asio::streambuf buf(max_request_bytes);
  for (;;) {
    auto [ec, n] = co_await asio::async_read_until(s, buf, '\n', asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // the client hung up (or sent more than 1 MiB without a newline)
    std::string line(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<long>(n));
    buf.consume(n);
    const auto req = json::parse(line, nullptr, false);
    // (json values are built before each co_await: GCC 12 miscompiles braced ones inside it)
    if (!req.is_object() || !req.contains("chat") || !req["chat"].is_string()) {
      const json bad{{"done", true}, {"ok", false}, {"text", "a request needs \"chat\" and \"message\""}};
      co_await write_line(s, bad);
      continue;
    }
    const std::string chat = req["chat"];
    if (req.value("reset", false)) {
      co_await lock_chat(chat);
      const auto r = pipe_.reset(chat);
      unlock_chat(chat);
      const json done{{"done", true}, {"ok", r.has_value()}, {"text", r ? "conversation cleared" : "cannot clear it"}};
      co_await write_line(s, done);
      continue;
    }
    if (!req.contains("message") || !req["message"].is_string()) {
      const json bad{{"done", true}, {"ok", false}, {"text", "a request needs \"message\""}};
      co_await write_line(s, bad);
      continue;
    }
    // The pipeline runs in its own coroutine and fills an outbox; this one writes the
    // lines out as they come (the pipeline's sink cannot wait for a socket).
    struct outbox {
      std::deque<json> lines;
      bool done = false;
      asio::steady_timer signal;
      explicit outbox(const asio::any_io_executor& ex) : signal(ex, asio::steady_timer::time_point::max()) {}
      void push(json j) {
        lines.push_back(std::move(j));
        signal.cancel();
      }
    };
    auto box = std::make_shared<outbox>(ex_);
    auto answer = [this, box, chat, message = req["message"].get<std::string>()]() -> asio::awaitable<void> {
      co_await lock_chat(chat);
      struct unlock_on_exit {  // also when the pipeline throws: the chat must not stay locked
        chat_server* server;
        std::string chat;
        ~unlock_on_exit() { server->unlock_chat(chat); }
      } unlock{this, chat};
      gateway::answer_sink sink{[box](std::string_view d) { box->push({{"delta", std::string(d)}}); },
                                [box] { box->push({{"restart", true}}); },
                                [box] { box->push({{"thinking", true}}); }};
      // Built here, not defaulted: GCC 12 destroys a defaulted by-value argument of a
      // coroutine called inside co_await twice (free(): invalid pointer).
      gateway::request_options options;
      const auto reply = co_await pipe_.handle(chat, message, sink, std::move(options));
      json done{{"done", true}, {"ok", reply.ok}, {"text", reply.text}};
      box->push(std::move(done));
      box->done = true;
    };
    asio::co_spawn(ex_, answer(), [box, chat](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        core::log_error("chat", chat + ": " + ex.what());
      }
      box->push({{"done", true}, {"ok", false}, {"text", "Sorry, something went wrong inside openclawd; your "
                                                         "message is saved. The daemon log has the details."}});
      box->done = true;
    });
    bool connected = true;
    for (;;) {
      while (!box->lines.empty()) {
        // A client that hung up does not stop the answer: it is stored for the next time.
        if (connected) connected = co_await write_line(s, box->lines.front());
        box->lines.pop_front();
      }
      if (box->done) break;
      box->signal.expires_at(asio::steady_timer::time_point::max());
      co_await box->signal.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (!connected) co_return;
  }
}

}  // namespace openclawd::app
