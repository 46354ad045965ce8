#include "supervisor/model_process.hpp"

#include "core/log.hpp"
#include "net/http_client.hpp"
#include "net/rpc_hello.hpp"
#include "net/url.hpp"
#include "supervisor/os.hpp"

#include <nlohmann/json.hpp>

#include <boost/process/v2/stdio.hpp>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

namespace openclawd::supervisor {
namespace bp = boost::process::v2;
using namespace std::chrono_literals;

namespace {

constexpr auto forever = std::chrono::hours(24);
constexpr auto startup_poll_first = 50ms;  // a tiny model is ready ~130 ms after exec
constexpr auto startup_poll_max = 500ms;
constexpr auto startup_probe_timeout = 1s;
constexpr std::size_t tail_keep = 40;

std::string join_command(const std::filesystem::path& exe, const std::vector<std::string>& args) {
  std::string s = exe.string();
  for (const auto& a : args) s += " " + a;
  return s;
}

std::string seconds_text(std::chrono::steady_clock::duration d) {
  std::ostringstream os;
  os.precision(2);
  os << std::fixed << std::chrono::duration<double>(d).count() << " s";
  return os.str();
}

// Runs in the child between fork and exec (async-signal-safe calls only).
struct child_setup {
  pid_t parent;
  bool parent_death_signal;
  bool ignore_sigpipe = false;

  bp::error_code on_exec_setup(bp::posix::default_launcher&, const bp::filesystem::path&, const char* const*) {
    // Its own process group: we signal the whole group, and a Ctrl-C on the daemon's
    // terminal reaches only the daemon, which then runs the stop ladder.
    if (::setpgid(0, 0) != 0) return bp::error_code(errno, bp::system_category());
    // The daemon ignores SIGPIPE; llama-server should start with the default. An RPC worker
    // should not: when its node dies mid-exchange, its next send would kill it (measured:
    // ggml-rpc-server exits on SIGPIPE then) instead of failing and serving the next client.
    ::signal(SIGPIPE, ignore_sigpipe ? SIG_IGN : SIG_DFL);
#if defined(__linux__)
    if (parent_death_signal) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The parent may have died between fork and prctl: then nobody would kill us.
      if (::getppid() != parent) ::_exit(127);
    }
#endif
    return {};
  }
};

// co_spawn completion handler that reports an escaped exception instead of losing it.
auto log_exceptions(std::string what) {
  return [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      core::log_error("supervisor", what + " failed: " + ex.what());
    }
  };
}

}  // namespace

std::vector<std::string> llama_server_args(const core::node_config& node, const std::filesystem::path& model) {
  std::vector<std::string> a{"-m",    model.string(), "-c",     std::to_string(node.ctx),
                             "-ngl",  std::to_string(node.gpu_layers), "--host", "127.0.0.1",
                             "--port", std::to_string(node.port)};
  if (node.threads) {
    a.emplace_back("-t");
    a.push_back(std::to_string(*node.threads));
  }
  if (node.parallel) {
    a.emplace_back("-np");
    a.push_back(std::to_string(*node.parallel));
  }
  // Always written: llama-server's own default (8 GiB per server) is not what the memory check
  // counts on, nor what a 40 GB machine running two models can spare.
  a.emplace_back("--cache-ram");
  a.push_back(std::to_string(node.cache_ram >> 20));
  if (node.slot_files) {
    a.emplace_back("--slot-save-path");
    a.push_back(node.slot_dir.string());
  }
  if (!node.rpc_endpoints.empty()) {
    // Layers go to these workers (with -ngl) besides the local devices; the workers answered
    // a handshake before this command runs (supervisor: nodes wait for their workers).
    std::string list;
    for (const auto& e : node.rpc_endpoints) list += (list.empty() ? "" : ",") + e;
    a.emplace_back("--rpc");
    a.push_back(list);
  }
  a.insert(a.end(), node.extra_args.begin(), node.extra_args.end());
  return a;
}

std::vector<std::string> rpc_worker_args(const core::worker_config& w) {
  std::vector<std::string> a{"-H", w.host, "-p", std::to_string(w.port)};
  if (w.threads) {
    a.emplace_back("-t");
    a.push_back(std::to_string(*w.threads));
  }
  if (!w.device.empty()) {
    a.emplace_back("-d");
    a.push_back(w.device);
  }
  if (w.cache) a.emplace_back("-c");
  return a;
}

std::string command_change(const core::node_config& from, const core::node_config& to,
                           const std::filesystem::path& running_model) {
  auto arrow = [](const std::string& a, const std::string& b) { return a + " → " + b; };
  if (from.remote() != to.remote())
    return from.remote() ? "url: " + from.url + " → model: " + to.model.string()
                         : "model: " + from.model.string() + " → url: " + to.url;
  if (to.remote()) return from.url == to.url ? std::string() : "url: " + arrow(from.url, to.url);
  // A file name says enough, unless both have the same one.
  auto paths = [&](const std::filesystem::path& a, const std::filesystem::path& b) {
    return a.filename() != b.filename() ? arrow(a.filename().string(), b.filename().string())
                                        : arrow(a.string(), b.string());
  };
  auto number = [&](int a, int b) { return arrow(std::to_string(a), std::to_string(b)); };
  auto optional = [&](const std::optional<int>& a, const std::optional<int>& b) {
    return arrow(a ? std::to_string(*a) : "unset", b ? std::to_string(*b) : "unset");
  };
  std::vector<std::string> parts;
  if (from.llama_server != to.llama_server) parts.push_back("llama_server: " + paths(from.llama_server, to.llama_server));
  if (from.model != to.model) parts.push_back("model: " + paths(from.model, to.model));
  if (from.ctx != to.ctx) parts.push_back("ctx: " + number(from.ctx, to.ctx));
  if (from.gpu_layers != to.gpu_layers) parts.push_back("gpu_layers: " + number(from.gpu_layers, to.gpu_layers));
  if (from.port != to.port) parts.push_back("port: " + number(from.port, to.port));
  if (from.threads != to.threads) parts.push_back("threads: " + optional(from.threads, to.threads));
  if (from.parallel != to.parallel) parts.push_back("parallel: " + optional(from.parallel, to.parallel));
  if (from.rpc_endpoints != to.rpc_endpoints) {
    auto list = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& e : v) out += (out.empty() ? "" : ",") + e;
      return out.empty() ? std::string("none") : out;
    };
    parts.push_back("rpc: " + arrow(list(from.rpc_endpoints), list(to.rpc_endpoints)));
  }
  if (from.extra_args != to.extra_args) parts.push_back("extra_args");  // may hold an --api-key: not shown
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  // The fields above are what llama_server_args() reads; should it ever read more, the
  // command lines themselves still tell.
  if (out.empty() && llama_server_args(from, from.model) != llama_server_args(to, to.model)) out = "command line";
  // A node on a fallback runs a model that the comparison of `model:` does not see.
  if (out.empty() && !running_model.empty() && running_model != from.model) {
    const auto listed = to.models();
    if (std::find(listed.begin(), listed.end(), running_model) == listed.end())
      out = "fallbacks: " + running_model.filename().string() + ", which it runs, is no longer listed";
  }
  return out;
}

asio::awaitable<void> wake_event::wait_for(std::chrono::steady_clock::duration d) {
  if (std::exchange(pending_, false)) co_return;
  if (d <= std::chrono::steady_clock::duration::zero()) co_return;
  timer_.expires_after(d);
  // operation_aborted is how notify() wakes us; expiry is the other normal ending.
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  pending_ = false;
}

model_process::model_process(asio::any_io_executor ex, settings s, observer on_change)
    : ex_(ex),
      settings_(std::move(s)),
      on_change_(std::move(on_change)),
      wake_(ex),
      log_(settings_.log_dir / (settings_.node.name + ".log"), settings_.logs.max_bytes, settings_.logs.keep) {
  status_.name = settings_.node.name;
  status_.port = settings_.node.port;
  status_.remote_url = settings_.node.url;
  if (!settings_.node.remote()) status_.model = settings_.node.model;
  status_.since = core::utc_timestamp();
}

model_process::~model_process() {
  // run() reaps its child before returning; this only matters if the io_context was
  // abandoned mid-flight. Never leave a model server behind.
  if (child_running()) os::signal_group(child_->id(), SIGKILL);
}

std::filesystem::path model_process::log_path() const { return log_.path(); }

void model_process::start() {
  want_up_ = true;
  retry_requested_ = true;
  wake_.notify();
}

void model_process::stop() {
  want_up_ = false;
  wake_.notify();
}

void model_process::shutdown() {
  want_up_ = false;
  exit_when_stopped_ = true;
  wake_.notify();
}

bool model_process::switch_to_next_model(std::string reason) {
  const auto models = settings_.node.models();
  if (static_cast<std::size_t>(status_.model_index) + 1 >= models.size()) return false;
  switch_requested_ = std::move(reason);
  wake_.notify();
  return true;
}

std::uint64_t model_process::reconfigure(settings s) {
  const std::uint64_t id = next_request_id_++;
  requested_settings_.emplace(id, std::move(s));
  wake_.notify();
  return id;
}

void model_process::apply_in_place(settings s) {
  // The running model keeps its place in the (perhaps edited) fallback list.
  if (!s.node.remote()) {
    const auto listed = s.node.models();
    const auto it = std::find(listed.begin(), listed.end(), status_.model);
    if (it != listed.end()) status_.model_index = static_cast<int>(it - listed.begin());
  }
  log_.set_limits(s.logs.max_bytes, s.logs.keep);
  settings_ = std::move(s);
}

void model_process::adopt(settings s, int model_index) {
  log_.set_limits(s.logs.max_bytes, s.logs.keep);
  settings_ = std::move(s);
  const auto& n = settings_.node;
  status_.port = n.port;
  status_.remote_url = n.url;
  status_.model_index = model_index;
  status_.model = n.remote() ? std::filesystem::path() : n.models().at(static_cast<std::size_t>(model_index));
  quick_failures_ = 0;
  ready_with_model_ = false;
}

// What a worker must restart for: its command line or, for a remote one, its address.
std::string worker_change(const core::worker_config& from, const core::worker_config& to) {
  if (from.remote != to.remote) return "remote: " + (from.remote.empty() ? std::string("none") : from.remote) + " → " +
                                       (to.remote.empty() ? std::string("none") : to.remote);
  if (to.is_remote()) return {};
  std::string a, b;
  for (const auto& x : rpc_worker_args(from)) a += (a.empty() ? "" : " ") + x;
  for (const auto& x : rpc_worker_args(to)) b += (b.empty() ? "" : " ") + x;
  if (from.rpc_server != to.rpc_server) return "rpc_server: " + from.rpc_server.string() + " → " + to.rpc_server.string();
  return a == b ? std::string() : a + " → " + b;
}

std::string model_process::change_to(const settings& next) const {
  if (is_worker() && next.worker) return worker_change(*settings_.worker, *next.worker);
  return command_change(settings_.node, next.node, status_.model);
}

bool model_process::restart_pending() {
  if (!requested_settings_) return false;
  if (!change_to(requested_settings_->second).empty()) return true;
  auto [id, s] = std::move(*requested_settings_);
  requested_settings_.reset();
  apply_in_place(std::move(s));
  reconfig_ = reconfigure_status{id, reconfigure_result::unchanged, {}, {}};
  core::log_info("supervisor", name() + ": took the reloaded settings without a restart");
  return false;
}

void model_process::take_settings() {
  auto [id, s] = std::move(*requested_settings_);
  requested_settings_.reset();
  const std::string change = change_to(s);
  if (change.empty()) {
    apply_in_place(std::move(s));
    reconfig_ = reconfigure_status{id, reconfigure_result::unchanged, {}, {}};
    return;
  }
  reconfig_ = reconfigure_status{id, reconfigure_result::pending, change, {}};
  core::log_info("supervisor", name() + ": reloaded settings change its command line (" + change + ")");
  log_.write("---- " + core::utc_timestamp() + " openclawd: reload: " + change + "\n");
  if (!want_up_) {  // stopped: nothing to start, nothing to try
    adopt(std::move(s), 0);
    reconfig_.result = reconfigure_result::unchanged;
    return;
  }
  if (status_.state == process_state::failed) {
    // Nothing that works to go back to: the new settings get the usual treatment
    // (fallbacks, then failed), like a start after a failure.
    rollback_.reset();
    retry_requested_ = true;
  } else if (!rollback_) {
    // A request that replaces one still on trial keeps what ran before both.
    rollback_ = previous_settings{settings_, status_.model_index, ready_with_model_};
  }
  adopt(std::move(s), 0);
  trial_ = true;
}

void model_process::trial_succeeded() {
  trial_ = false;
  rollback_.reset();
  reconfig_.result = reconfigure_result::restarted;
}

void model_process::trial_failed(const std::string& why) {
  trial_ = false;
  reconfig_.reason = why;
  if (!rollback_) {
    reconfig_.result = reconfigure_result::failed;
    return;
  }
  auto prev = std::move(*rollback_);
  rollback_.reset();
  adopt(std::move(prev.s), prev.model_index);
  ready_with_model_ = prev.ready_with_model;
  reconfig_.result = reconfigure_result::rolled_back;
  core::log_warn("supervisor", name() + ": the reloaded settings did not become ready; back to the previous ones" +
                                   (settings_.node.remote() ? " (" + settings_.node.url + ")"
                                                            : " (" + status_.model.string() + ")"));
  log_.write("---- " + core::utc_timestamp() + " openclawd: reload rolled back\n");
}

void model_process::move_to_next_model(const std::string& reason) {
  const auto models = settings_.node.models();
  status_.switched_from = status_.model;
  ++status_.model_index;
  status_.model = models[static_cast<std::size_t>(status_.model_index)];
  status_.switch_reason = reason;
  status_.switched_at = core::utc_timestamp();
  ++status_.switches;
  quick_failures_ = 0;
  ready_with_model_ = false;
  core::log_warn("supervisor", name() + ": switching from " + status_.switched_from.string() + " to " +
                                   status_.model.string() + ": " + reason);
}

void model_process::restart_for(std::string reason) {
  if (!want_up_ || !child_running()) return;  // nothing runs that could hold the lost layers
  restart_requested_ = std::move(reason);
  wake_.notify();
}

void model_process::declare_wedged(std::string reason) {
  if (!want_up_ || !child_running() || status_.state != process_state::ready) return;
  wedged_reason_ = std::move(reason);
  wake_.notify();
}

void model_process::recheck() {
  if (!is_worker() || !settings_.node.remote() || status_.state != process_state::ready) return;
  // Synchronously: the node that asked reads the gate right after this.
  set_state(process_state::starting);
  wake_.notify();
}

void model_process::kill_now() {
  if (child_running()) os::signal_group(child_->id(), SIGKILL);
}

void model_process::set_state(process_state s) {
  if (!is_valid_transition(status_.state, s)) {
    core::log_error("supervisor", name() + ": invalid transition " + std::string(to_string(status_.state)) +
                                      " -> " + std::string(to_string(s)));
  }
  const bool changed = status_.state != s;
  status_.state = s;
  if (changed) status_.since = core::utc_timestamp();
  if (s != process_state::backoff) status_.retry_at.clear();
  if (on_change_) on_change_(status_);
}

std::string model_process::log_tail(std::size_t max_lines) const {
  std::string out;
  const std::size_t first = tail_.size() > max_lines ? tail_.size() - max_lines : 0;
  for (std::size_t i = first; i < tail_.size(); ++i) out += "  | " + tail_[i] + "\n";
  if (!partial_line_.empty()) out += "  | " + partial_line_ + "\n";
  return out;
}

void model_process::remember_output(std::string_view data) {
  for (char c : data) {
    if (c == '\n') {
      // llama-server logs these the moment /health turns 200: probe now rather than at
      // the next poll (readiness is then seen within a millisecond or two, not up to 500 ms).
      if (status_.state == process_state::starting && (partial_line_.find("model loaded") != std::string::npos ||
                                                       partial_line_.find("listening on") != std::string::npos))
        wake_.notify();
      tail_.push_back(std::move(partial_line_));
      partial_line_.clear();
      if (tail_.size() > tail_keep) tail_.pop_front();
    } else if (partial_line_.size() < 4096) {
      partial_line_ += c;
    }
  }
}

bool model_process::spawn(std::string* error) {
  const auto models = settings_.node.models();
  const auto& model = models.at(static_cast<std::size_t>(status_.model_index));
  const auto& exe = settings_.node.llama_server;
  const auto args = is_worker() ? rpc_worker_args(*settings_.worker) : llama_server_args(settings_.node, model);
  status_.model = is_worker() ? std::filesystem::path() : model;
  if (is_worker() && settings_.worker->host != "127.0.0.1" && settings_.worker->host != "localhost") {
    // allow_network said yes; still say it at every start, where the log is read.
    core::log_warn("supervisor", name() + ": RPC worker listens on " + settings_.worker->endpoint() +
                                     ": the RPC protocol has no authentication, anyone who reaches this port can "
                                     "use the worker (allow_network: true)");
  }
  if (settings_.node.slot_files) {
    // llama-server writes its slot files there but does not create the folder; private: they
    // hold what the chats said, in the model's own encoding.
    std::error_code ec;
    std::filesystem::create_directories(settings_.node.slot_dir, ec);
    std::filesystem::permissions(settings_.node.slot_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }

  int fds[2];
  if (::pipe(fds) != 0) {
    *error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return false;
  }
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);  // dup2 onto 1 and 2 in the child clears it there
  auto pipe = std::make_shared<asio::readable_pipe>(ex_, fds[0]);

  tail_.clear();
  partial_line_.clear();
  log_.write("---- " + core::utc_timestamp() + " openclawd: starting " + name() + ": " + join_command(exe, args) +
             "\n");
  try {
    child_ = std::make_shared<bp::process>(ex_, bp::filesystem::path(exe.string()), args,
                                           bp::process_stdio{nullptr, fds[1], fds[1]},
                                           child_setup{::getpid(), settings_.parent_death_signal, is_worker()});
  } catch (const boost::system::system_error& e) {
    ::close(fds[1]);
    child_.reset();
    *error = "could not run " + exe.string() + ": " + e.code().message();
    log_.write("---- openclawd: " + *error + "\n");
    return false;
  }
  ::close(fds[1]);  // the child has its copy; EOF on our end now means "all writers gone"

  child_exited_ = false;
  wait_status_ = 0;
  spawned_at_ = clock::now();
  ever_spawned_ = true;
  status_.pid = child_->id();
  status_.pid_start_time = os::process_start_time(child_->id());
  status_.ready_ms.reset();
  status_.health_ms.reset();

  ++drains_active_;
  asio::co_spawn(ex_, drain_output(std::move(pipe)), log_exceptions(name() + " log drain"));
  asio::co_spawn(ex_, watch_exit(child_), log_exceptions(name() + " exit watch"));
  core::log_info("supervisor", name() + ": started pid " + std::to_string(child_->id()) +
                                   (is_worker() ? " (RPC worker on " + settings_.worker->endpoint() + ")"
                                                : " with model " + model.string()));
  return true;
}

asio::awaitable<void> model_process::drain_output(std::shared_ptr<asio::readable_pipe> pipe) {
  // Always drained, to EOF: a pipe nobody reads would block llama-server's logging,
  // and with it the server.
  std::array<char, 16384> buf{};
  for (;;) {
    auto [ec, n] = co_await pipe->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (n > 0) {
      const std::string_view chunk(buf.data(), n);
      log_.write(chunk);
      remember_output(chunk);
    }
    if (ec) break;  // eof once the child (and anything it forked) has exited
  }
  --drains_active_;
  wake_.notify();
}

asio::awaitable<void> model_process::watch_exit(std::shared_ptr<bp::process> child) {
  auto [ec, code] = co_await child->async_wait(asio::as_tuple(asio::use_awaitable));
  (void)code;  // evaluated code; we want the raw status to tell signals apart
  int status = 0;
  if (!ec) {
    status = child->native_exit_code();
  } else {
    // pidfd unavailable (old kernel, sandbox): fall back to polling waitpid.
    core::log_warn("supervisor", name() + ": waiting for pid " + std::to_string(child->id()) +
                                     " failed (" + ec.message() + "); polling instead");
    asio::steady_timer t(ex_);
    for (;;) {
      const pid_t r = ::waitpid(child->id(), &status, WNOHANG);
      if (r == child->id() || (r < 0 && errno != EINTR)) break;
      t.expires_after(100ms);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  if (child != child_) co_return;  // a stale child; cannot happen while run() reaps before respawning
  wait_status_ = status;
  child_exited_ = true;
  wake_.notify();
}

asio::awaitable<result<asio::ip::tcp::endpoint>> model_process::server_endpoint(clock::duration timeout) {
  if (!settings_.node.remote())
    co_return asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(settings_.node.port));
  auto u = net::parse_url(settings_.node.url);
  if (!u) co_return u.error();
  // Looked up for every probe: a server on the LAN may get another address.
  co_return co_await net::resolve_endpoint(u->host, u->port,
                                           std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
}

asio::awaitable<bool> model_process::probe_worker(clock::duration timeout) {
  const auto begun = clock::now();
  const auto& w = *settings_.worker;
  const auto ms = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); };
  const auto ep = co_await net::resolve_endpoint(w.connect_host(), static_cast<std::uint16_t>(w.connect_port()),
                                                 ms(timeout));
  if (!ep) {
    last_probe_error_ = ep.error().message();
    co_return false;
  }
  const auto sent = clock::now();
  const auto v = co_await net::rpc_hello(*ep, std::max(ms(timeout - (sent - begun)), std::chrono::milliseconds(1)));
  status_.health_ms = std::chrono::duration<double, std::milli>(clock::now() - sent).count();
  if (!v) {
    last_probe_error_ = v.error() == make_error_code(errc::upstream_http_error) ? "not an RPC worker's answer"
                                                                               : v.error().message();
    co_return false;
  }
  status_.rpc_version = v->text();
  co_return true;
}

asio::awaitable<bool> model_process::probe_health(clock::duration timeout, unsigned* status_out) {
  if (is_worker()) {
    if (status_out) *status_out = 0;
    co_return co_await probe_worker(timeout);
  }
  const auto begun = clock::now();
  const auto ep = co_await server_endpoint(timeout);
  if (!ep) {
    last_probe_error_ = ep.error().message();
    if (status_out) *status_out = 0;
    co_return false;
  }
  net::http_get_options opts;
  // One budget for the lookup and the exchange.
  opts.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max<clock::duration>(timeout - (clock::now() - begun), 1ms));
  opts.body_limit = 64 * 1024;
  const auto sent = clock::now();
  auto r = co_await net::http_get(*ep, "/health", opts);
  status_.health_ms = std::chrono::duration<double, std::milli>(clock::now() - sent).count();
  if (!r) {
    last_probe_error_ = r.error().message();
    if (status_out) *status_out = 0;
    co_return false;
  }
  if (status_out) *status_out = r->status;
  if (r->status != 200) last_probe_error_ = "HTTP " + std::to_string(r->status);
  co_return r->status == 200;
}

asio::awaitable<void> model_process::read_remote_model(clock::duration timeout) {
  // Which model the server runs, for `status`: llama-server and most OpenAI-compatible
  // servers list it under GET /v1/models. Optional: an answer we cannot read changes nothing.
  const auto ep = co_await server_endpoint(timeout);
  if (!ep) co_return;
  net::http_get_options opts;
  opts.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  opts.body_limit = 256 * 1024;
  const auto r = co_await net::http_get(*ep, "/v1/models", opts);
  if (!r || r->status != 200) co_return;
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array() || j["data"].empty()) co_return;
  const auto& first = j["data"][0];
  if (first.is_object() && first.contains("id") && first["id"].is_string())
    status_.model = first["id"].get<std::string>();
}

asio::awaitable<model_process::attempt_end> model_process::watch_remote() {
  // A server someone else runs: probe it, never start, stop or signal anything.
  status_.pid.reset();
  status_.pid_start_time.reset();
  status_.ready_ms.reset();
  set_state(process_state::starting);
  log_.write("---- " + core::utc_timestamp() + " openclawd: waiting for " + settings_.node.url +
             " (a server openclawd does not run)\n");
  const auto started = clock::now();
  clock::duration poll = startup_poll_first;
  int failures = 0;
  for (;;) {
    if (!want_up_) co_return attempt_end::stop_requested;
    if (restart_pending()) co_return attempt_end::reconfigure_requested;
    if (is_worker() && status_.state == process_state::ready) {
      // Checked once: after that a node holds it, and a handshake would queue behind the node.
      co_await wake_.wait_for(forever);
      continue;
    }
    const auto& h = settings_.health;
    const auto& url = settings_.node.url;
    if (status_.state == process_state::starting && !episode_started_) episode_started_ = clock::now();
    const auto deadline = episode_started_.value_or(started) + settings_.node.startup_timeout;
    const bool starting = status_.state == process_state::starting;
    const auto timeout = starting ? std::max<clock::duration>(std::min<clock::duration>(h.timeout, deadline - clock::now()), 1ms)
                                  : clock::duration(h.timeout);
    const bool ok = co_await probe_health(timeout, nullptr);
    if (!want_up_) co_return attempt_end::stop_requested;
    if (ok) {
      failures = 0;
      episode_started_.reset();
      if (status_.state != process_state::ready) {
        if (starting) status_.ready_ms = std::chrono::duration<double, std::milli>(clock::now() - started).count();
        if (!is_worker()) co_await read_remote_model(h.timeout);
        ready_with_model_ = true;
        status_.error.clear();
        if (trial_) trial_succeeded();
        set_state(process_state::ready);
        log_.write("---- " + core::utc_timestamp() + " openclawd: " + url + " answers GET /health with 200\n");
        core::log_info("supervisor", name() + ": ready at " + url + (starting ? " (remote)" : " (remote, again)"));
      }
      co_await wake_.wait_for(h.interval);
      continue;
    }
    if (starting) {
      // Never answered with these settings: startup_timeout bounds the wait, as for a spawn.
      if (!ready_with_model_ && clock::now() >= deadline) co_return attempt_end::startup_timeout;
      co_await wake_.wait_for(std::min<clock::duration>(poll, std::max<clock::duration>(deadline - clock::now(), 1ms)));
      poll = std::min<clock::duration>(poll * 3 / 2, startup_poll_max);
      continue;
    }
    ++failures;
    if (status_.state == process_state::ready) {
      core::log_warn("supervisor", name() + ": liveness probe of " + url + " failed (" + std::to_string(failures) +
                                       "/" + std::to_string(h.failures) + "): " + last_probe_error_);
      if (failures >= h.failures) {
        status_.error = url + " stopped answering (" + last_probe_error_ + "); it is probed every " +
                        seconds_text(h.interval) + ", never restarted: openclawd does not run it";
        status_.retry_at = core::utc_timestamp(std::chrono::system_clock::now() +
                                               std::chrono::duration_cast<std::chrono::system_clock::duration>(h.interval));
        log_.write("---- " + core::utc_timestamp() + " openclawd: " + url + " stopped answering: " +
                   last_probe_error_ + "\n");
        core::log_warn("supervisor", name() + ": " + status_.error);
        set_state(process_state::backoff);
      }
    }
    co_await wake_.wait_for(h.interval);
  }
}

void model_process::record_exit(const std::string& reason) {
  const auto st = os::decode_wait_status(wait_status_);
  exit_record rec;
  rec.code = st.code;
  rec.signal = st.signal;
  rec.description = st.describe();
  rec.reason = reason;
  rec.at = core::utc_timestamp();
  log_.write("---- " + rec.at + " openclawd: pid " + std::to_string(status_.pid.value_or(0)) + " " +
             rec.description + " (" + reason + ")\n");
  core::log_info("supervisor", name() + ": pid " + std::to_string(status_.pid.value_or(0)) + " " +
                                   rec.description + " (" + reason + ")");
  status_.last_exit = std::move(rec);
  status_.pid.reset();
  status_.pid_start_time.reset();
  child_.reset();
}

asio::awaitable<model_process::attempt_end> model_process::start_child() {
  std::string error;
  if (!spawn(&error)) {
    status_.error = error;
    co_return attempt_end::spawn_failed;
  }
  set_state(process_state::starting);

  const auto deadline = spawned_at_ + settings_.node.startup_timeout;
  clock::duration poll = startup_poll_first;
  for (;;) {
    if (child_exited_) co_return attempt_end::exited;
    if (!want_up_) co_return attempt_end::stop_requested;
    if (restart_pending()) co_return attempt_end::reconfigure_requested;
    if (!restart_requested_.empty()) co_return attempt_end::restart_requested;
    const auto now = clock::now();
    if (now >= deadline) co_return attempt_end::startup_timeout;

    // 503 "Loading model" and connection refused both mean "not yet".
    const bool ok = co_await probe_health(std::min<clock::duration>(startup_probe_timeout, deadline - now), nullptr);
    if (ok && !child_exited_) {
      ready_at_ = clock::now();
      status_.ready_ms = std::chrono::duration<double, std::milli>(ready_at_ - spawned_at_).count();
      ready_with_model_ = true;
      status_.error.clear();
      if (trial_) trial_succeeded();
      set_state(process_state::ready);
      core::log_info("supervisor", name() + ": ready at " + (is_worker() ? settings_.worker->endpoint() + " (RPC " + status_.rpc_version + ")" : status_.url()) + " after " +
                                       seconds_text(ready_at_ - spawned_at_));
      co_return attempt_end::ready;
    }
    co_await wake_.wait_for(std::min<clock::duration>(poll, deadline - clock::now()));
    poll = std::min<clock::duration>(poll * 3 / 2, startup_poll_max);
  }
}

asio::awaitable<model_process::attempt_end> model_process::watch_ready_child() {
  const auto& h = settings_.health;
  int failures = 0;
  auto next_probe = clock::now() + h.interval;
  for (;;) {
    if (child_exited_) co_return attempt_end::exited;
    if (!want_up_) co_return attempt_end::stop_requested;
    if (!switch_requested_.empty()) co_return attempt_end::switch_requested;
    if (restart_pending()) co_return attempt_end::reconfigure_requested;
    if (!restart_requested_.empty()) co_return attempt_end::restart_requested;
    if (!wedged_reason_.empty()) co_return attempt_end::wedged;
    const auto now = clock::now();
    if (now < next_probe) {
      co_await wake_.wait_for(next_probe - now);
      continue;
    }
    unsigned code = 0;
    bool ok = false;
    if (is_worker()) {
      // A node holds the worker's only connection: a handshake would wait behind it. A stopped
      // worker is what "alive but answering nothing" looks like from here.
      ok = !os::process_stopped(child_->id());
      if (!ok) last_probe_error_ = "the process is stopped (SIGSTOP)";
    } else {
      ok = co_await probe_health(h.timeout, &code);
    }
    next_probe = clock::now() + h.interval;
    if (child_exited_) co_return attempt_end::exited;
    if (ok) {
      failures = 0;
      continue;
    }
    ++failures;
    core::log_warn("supervisor", name() + ": liveness probe failed (" + std::to_string(failures) + "/" +
                                     std::to_string(h.failures) + "): " +
                                     (code != 0 ? "HTTP " + std::to_string(code)
                                                : is_worker() ? last_probe_error_ : std::string("no answer")));
    if (failures >= h.failures) co_return attempt_end::wedged;
  }
}

asio::awaitable<void> model_process::stop_child(clock::duration grace) {
  if (!child_running()) co_return;
  set_state(process_state::stopping);
  const pid_t pid = child_->id();
  // SIGCONT too: a SIGSTOPped server must run to act on SIGTERM.
  os::signal_group(pid, SIGTERM);
  os::signal_group(pid, SIGCONT);
  const auto deadline = clock::now() + grace;
  while (!child_exited_ && clock::now() < deadline) co_await wake_.wait_for(deadline - clock::now());
  if (!child_exited_) {
    // llama-server hangs on SIGTERM while a non-streaming request is in flight.
    core::log_warn("supervisor", name() + ": pid " + std::to_string(pid) + " still running " +
                                     seconds_text(grace) + " after SIGTERM; sending SIGKILL");
    os::signal_group(pid, SIGKILL);
  }
  auto complain_at = clock::now() + 5s;  // other wake-ups (a poke) come sooner: only say it after 5 s
  while (!child_exited_) {
    co_await wake_.wait_for(5s);
    if (!child_exited_ && clock::now() >= complain_at) {
      core::log_error("supervisor", name() + ": pid " + std::to_string(pid) + " survives SIGKILL");
      complain_at = clock::now() + 5s;
    }
  }
  // Anything the server forked dies with the group.
  os::signal_group(pid, SIGKILL);
}

asio::awaitable<bool> model_process::pass_gate() {
  if (settings_.before_gate) settings_.before_gate();
  bool waited = false;
  for (;;) {
    if (!want_up_ || restart_pending()) co_return false;
    const std::string why = settings_.gate();
    if (why.empty()) {
      if (waited) core::log_info("supervisor", name() + ": its RPC workers answer; starting");
      co_return true;
    }
    if (why.starts_with("failed: ")) {
      if (trial_ && rollback_) {
        // Reloaded settings whose workers cannot come: back to the ones that ran.
        trial_failed(name() + ": " + why.substr(8));
        co_return false;
      }
      if (trial_) trial_failed(name() + ": " + why.substr(8));
      status_.error = name() + ": " + why.substr(8);
      core::log_error("supervisor", status_.error + "\n" + name() + ": giving up (state failed); `openclawd start` tries again");
      retry_requested_ = false;
      set_state(process_state::failed);
      co_return false;
    }
    if (!waited || status_.error != why) {
      status_.error = why;
      core::log_info("supervisor", name() + ": " + why);
      set_state(process_state::starting);
      waited = true;
    }
    // Poked at every worker transition; the timeout is only a backstop.
    co_await wake_.wait_for(5s);
  }
}

asio::awaitable<void> model_process::run() {
  const auto& restart = settings_.restart;  // a reference: a reload may change it in place
  for (;;) {
    // No child runs here: the place to take settings that need a new one.
    if (requested_settings_) take_settings();
    if (!want_up_) {
      if (status_.state != process_state::stopped) set_state(process_state::stopped);
      if (exit_when_stopped_) break;
      co_await wake_.wait_for(forever);
      continue;
    }
    if (status_.state == process_state::failed) {
      // Stays failed until start() is asked again; then starts over from the first model.
      if (!std::exchange(retry_requested_, false)) {
        co_await wake_.wait_for(forever);
        continue;
      }
      core::log_info("supervisor", name() + ": retrying after failure, from the first model");
      quick_failures_ = 0;
      status_.model_index = 0;
      ready_with_model_ = false;
    }

    if (settings_.node.remote()) {
      if (co_await watch_remote() != attempt_end::startup_timeout) continue;  // stop, or new settings: see above
      std::string why = is_worker() ? name() + ": the RPC worker at " + settings_.worker->remote +
                                          " did not answer the RPC handshake within startup_timeout (" +
                                          seconds_text(settings_.node.startup_timeout) + ")"
                                    : name() + ": " + settings_.node.url +
                                          " did not answer GET /health with 200 within startup_timeout (" +
                                          seconds_text(settings_.node.startup_timeout) + ")";
      if (!last_probe_error_.empty()) why += ": " + last_probe_error_;
      if (trial_) {
        trial_failed(why);
        if (reconfig_.result == reconfigure_result::rolled_back) continue;
      }
      status_.error = why;
      core::log_error("supervisor", why + "\n" + name() + ": giving up (state failed); `openclawd start` tries again");
      retry_requested_ = false;
      set_state(process_state::failed);
      continue;
    }

    if (settings_.gate && !co_await pass_gate()) continue;
    restart_requested_.clear();  // asked of a child that is gone: the next one waited at the gate
    attempt_end end = co_await start_child();
    const bool reached_ready = end == attempt_end::ready;
    if (reached_ready) end = co_await watch_ready_child();
    if (child_running()) co_await stop_child(settings_.node.stop_timeout);

    std::string reason;
    switch (end) {
      case attempt_end::exited: reason = reached_ready ? "exited unexpectedly" : "exited while starting"; break;
      case attempt_end::startup_timeout:
        reason = "not ready within startup_timeout (" + seconds_text(settings_.node.startup_timeout) + ")";
        break;
      case attempt_end::wedged:
        reason = !wedged_reason_.empty()
                     ? std::exchange(wedged_reason_, {})
                     : "liveness probe failed " + std::to_string(settings_.health.failures) + " times in a row";
        break;
      case attempt_end::stop_requested: reason = "stopped on request"; break;
      case attempt_end::switch_requested: reason = "switching model: " + switch_requested_; break;
      case attempt_end::spawn_failed: reason = "could not be started"; break;
      case attempt_end::reconfigure_requested: reason = "stopped for a reload: its command line changed"; break;
      case attempt_end::restart_requested: reason = "restarting: " + restart_requested_; break;
      case attempt_end::ready: reason = "ended"; break;
    }
    if (end != attempt_end::spawn_failed && status_.pid) record_exit(reason);
    if (end == attempt_end::stop_requested || end == attempt_end::reconfigure_requested || !want_up_) continue;
    // A node that ended while one of its workers is down lost its layers with the worker (it
    // aborts by itself when it notices): the worker's failure, not the model's. Start again
    // once the worker is back, without counting it against the model or its fallbacks.
    const bool worker_down = settings_.gate && !settings_.gate().empty();
    if (end == attempt_end::restart_requested || (worker_down && end == attempt_end::exited)) {
      if (worker_down && end == attempt_end::exited)
        core::log_warn("supervisor", name() + " " + reason + " while an RPC worker is down: " + settings_.gate());
      restart_requested_.clear();
      ++status_.restarts;
      continue;
    }
    if (end == attempt_end::switch_requested) {
      // Not a failure of the node: a model that runs but answers garbage. Next model, now.
      move_to_next_model(std::exchange(switch_requested_, {}));
      ++status_.restarts;
      continue;
    }

    // A failure. Work out whether to retry this model, move on to a fallback, or give up.
    const bool start_failure = !reached_ready;
    const bool was_stable = reached_ready && clock::now() - ready_at_ >= restart.stable_after;
    if (was_stable) quick_failures_ = 0;
    ++quick_failures_;

    std::string why = name() + " " + reason;
    if (status_.last_exit && end != attempt_end::spawn_failed) why += " (" + status_.last_exit->description + ")";
    if (end == attempt_end::spawn_failed) why = name() + ": " + status_.error;
    if (!is_worker()) why += "; model " + status_.model.string();
    if (start_failure) {
      const auto tail = log_tail();
      if (!tail.empty()) why += "\nlast lines of " + log_path().string() + ":\n" + tail;
    }
    if (trial_ && start_failure && rollback_) {
      // Reloaded settings that do not come up: back to the ones that ran, at once (their
      // fallbacks, not the new ones, stay the safety net).
      trial_failed(why);
      ++status_.restarts;
      continue;
    }

    // A model that never reached ready cannot load (bad file, unsupported, out of memory):
    // retrying it only delays the fallback.
    const bool give_up_model = (start_failure && !ready_with_model_) || quick_failures_ >= restart.max_failures;
    clock::duration delay{};
    if (give_up_model) {
      if (static_cast<std::size_t>(status_.model_index) + 1 < settings_.node.models().size()) {
        core::log_warn("supervisor", why);
        move_to_next_model(start_failure && !ready_with_model_ ? "could not start: " + reason
                                                               : std::to_string(restart.max_failures) +
                                                                     " quick failures in a row: " + reason);
      } else {
        status_.error = why;
        core::log_error("supervisor", why + "\n" + name() + ": giving up (state failed)");
        if (trial_) trial_failed(why);  // nothing to go back to: the node was failed before the reload
        retry_requested_ = false;  // only a start() from now on leaves `failed`
        set_state(process_state::failed);
        continue;
      }
    } else {
      // s6's rule: spawns are at least `delay` apart, so a crash loop slows down while a
      // node that ran for a while comes back at once.
      const int doublings = std::min(quick_failures_ - 1, 30);
      auto backoff = restart.backoff_initial * (1LL << doublings);
      if (backoff > restart.backoff_max) backoff = restart.backoff_max;
      delay = std::max<clock::duration>(clock::duration::zero(), spawned_at_ + backoff - clock::now());
      core::log_warn("supervisor", why + "; restarting in " + seconds_text(delay));
    }
    ++status_.restarts;

    if (delay > clock::duration::zero()) {
      status_.error = why;
      status_.retry_at = core::utc_timestamp(std::chrono::system_clock::now() +
                                             std::chrono::duration_cast<std::chrono::system_clock::duration>(delay));
      set_state(process_state::backoff);
      const auto until = clock::now() + delay;
      while (want_up_ && clock::now() < until && !restart_pending()) co_await wake_.wait_for(until - clock::now());
    }
  }
  // Do not return while a drain coroutine still uses this object.
  while (drains_active_ > 0) co_await wake_.wait_for(1s);
}

}  // namespace openclawd::supervisor
