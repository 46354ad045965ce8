#include "app/daemon.hpp"

#include "app/admin_views.hpp"
#include "app/chat_server.hpp"
#include "app/kv_files.hpp"
#include "app/page_policy.hpp"
#include "app/reload.hpp"
#include "core/log.hpp"
#include "gateway/conversation_store.hpp"
#include "gateway/llm_client.hpp"
#include "gateway/pipeline.hpp"
#include "gateway/search_adapter.hpp"
#include "gateway/template_probe.hpp"
#include "gateway/work_probe.hpp"
#include "gateway/telegram/channel.hpp"
#include "tools/web_reader.hpp"
#include "tools/web_search.hpp"
#include "net/asio.hpp"
#include "supervisor/supervisor.hpp"

#include <nlohmann/json.hpp>

#include <csignal>

#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace openclawd::app {
namespace {
using namespace std::chrono_literals;

void notify(int fd, const nlohmann::json& event) {
  if (fd < 0) return;
  const std::string line = event.dump() + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    const auto n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the waiting `start` went away (Ctrl-C): the daemon carries on
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

// /status in a chat: one line per node, in words.
std::string status_text_for_chat(const supervisor::daemon_status& st) {
  std::string out;
  for (const auto& n : st.nodes) {
    out += n.name + ": " + std::string(supervisor::to_string(n.state));
    if (!n.model.empty()) out += ", model " + n.model.filename().string();
    if (n.restarts > 0) out += ", " + std::to_string(n.restarts) + " restart(s)";
    if (!n.switch_reason.empty()) out += " (switched from " + n.switched_from.filename().string() + ": " + n.switch_reason + ")";
    if (!n.error.empty()) out += " - " + n.error;
    out += "\n";
  }
  return out.empty() ? std::string("No nodes.") : out;
}

}  // namespace

int run_daemon(const core::config& cfg, const state_paths& paths, const daemon_options& options) {
#ifdef __GLIBC__
  // While messages flow, the top of the heap moves by ~64 KiB with each one (SQLite's and the
  // pipeline's short-lived buffers). With glibc's defaults that is memory given back and taken
  // again every message: brk calls, page faults on fresh pages and, now that the log syncer
  // has a thread, a TLB shootdown across cores each time. Keep up to 1 MiB at the top while
  // busy; trim_when_idle below returns it once no message is in flight. (Setting the trim
  // threshold fixes the mmap threshold too: large buffers keep coming from mmap.)
  ::mallopt(M_TOP_PAD, 256 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
  ::mallopt(M_MMAP_THRESHOLD, 512 * 1024);
#endif
  asio::io_context io(1);
  int exit_code = 0;
  int notify_fd = options.notify_fd;
  auto close_notify = [&] {
    if (notify_fd >= 0) ::close(notify_fd);
    notify_fd = -1;
  };

  supervisor::daemon_status identity;
  identity.pid = static_cast<int>(::getpid());
  identity.started_at_unix_ms = unix_ms_now();
  identity.started_at = core::utc_timestamp();
  identity.config = cfg.source.string();
  supervisor::supervisor sup(io.get_executor(), cfg, identity, paths.state,
                             supervisor::supervisor::options{options.parent_death_signal});

  // The agent: one client per node, the conversations, the search tool, the pipeline,
  // and the local chat channel. Messages may arrive before the nodes are ready: the
  // pipeline waits for them (bounded) instead of failing.
  auto store = gateway::conversation_store::open(paths.dir / "conversations.db");
  if (!store) {
    core::log_error("daemon", "cannot open " + (paths.dir / "conversations.db").string() + ": " +
                                  store.error().message());
    return 1;
  }
  // node_peer, client_options_of, node_view_of (app/reload.hpp): also what a reload retargets.
  const auto& orch_cfg = *cfg.find_node("orchestrator");
  const auto& sub_cfg = *cfg.find_node("subagent");
  gateway::openai_client orch_client(io.get_executor(), node_peer(orch_cfg), client_options_of(orch_cfg));
  gateway::openai_client sub_client(io.get_executor(), node_peer(sub_cfg), client_options_of(sub_cfg));
  std::unique_ptr<tools::web_search> search;
  if (cfg.search.enabled) {
    if (auto s = tools::web_search::create(io.get_executor(), cfg.search)) search = std::move(*s);
    else core::log_warn("daemon", "web search is off: " + s.error().message());
  }
  gateway::pipeline pipe(
      *store, node_view_of(orch_cfg, &orch_client), node_view_of(sub_cfg, &sub_client),
      search ? gateway::search_with(*search, static_cast<std::size_t>(cfg.search.max_output_chars))
             : gateway::search_function{},
      [&sup](std::string node, std::string reason) -> asio::awaitable<bool> {
        co_return co_await sup.switch_model(std::move(node), std::move(reason), std::chrono::minutes(10));
      },
      gateway::pipeline_config::from(cfg.pipeline, &cfg.pages));
  // Page reading: links in messages, and the top results when the orchestrator asks (docs/pages.md).
  std::unique_ptr<tools::web_reader> reader;
  if (cfg.pages.enabled) {
    reader = std::make_unique<tools::web_reader>(io.get_executor(), cfg.pages, page_policy_of(cfg));
    pipe.set_reader(gateway::read_with(*reader));
  }
  // The orchestrator's chats keep their KV: slots, warm-ups, slot files (gateway/kv_keeper.hpp).
  gateway::kv_keeper orch_kv(orch_client, "orchestrator", orch_cfg.parallel.value_or(1),
                             kv_files_of(cfg, orch_cfg, orch_cfg.model));
  pipe.set_kv_keeper(&orch_kv);
  // What each node's chat template accepts, asked whenever it becomes ready (a restart, a
  // switch to a fallback or a reload may have changed the model): the pipeline shapes its
  // requests for it, status shows it. Returns the problem when the template refuses even a
  // plain exchange (a start then fails naming the node and model).
  auto probe_template = [&](std::string node, std::filesystem::path model) -> asio::awaitable<std::string> {
    gateway::llm_client& client = node == "orchestrator" ? static_cast<gateway::llm_client&>(orch_client)
                                                          : static_cast<gateway::llm_client&>(sub_client);
    auto t = co_await gateway::probe_template(client);
    if (!t) {  // gone again before it could be asked: the next ready asks again
      core::log_warn("daemon", node + ": cannot ask about its chat template: " + t.error().to_string());
      co_return std::string();
    }
    pipe.set_template(node, *t);
    sup.set_chat_template(node, model, t->summary(), t->refusal);
    if (!t->usable()) {
      const std::string problem = "the chat template of " + model.filename().string() +
                                  " refuses a plain user/assistant/user exchange: " + t->refusal;
      core::log_error("daemon", node + ": " + problem);
      co_return problem;
    }
    core::log_info("daemon", node + ": chat template: " + t->summary());
    co_return std::string();
  };
  // /health answers 200 even when a node's backend hangs (a lost RPC worker, a wedged GPU):
  // idle nodes are asked for a 1-token test completion now and then (gateway/work_probe.hpp).
  auto probe_settings_of = [](const core::config& c) {
    gateway::work_probe_settings s;
    s.idle_after = c.health.work_probe_idle;
    s.timeout = c.health.work_probe_timeout;
    s.retry_after = c.health.interval;
    s.failures = c.health.failures;
    return s;
  };
  auto ready_process = [&sup](std::string node) {
    return [&sup, node] {
      for (const auto& n : sup.snapshot().nodes)
        if (n.name == node) return n.state == supervisor::process_state::ready && n.pid.has_value();
      return false;
    };
  };
  auto wedged = [&sup](std::string node) {
    return [&sup, node](std::string why) {
      core::log_error("health", node + ": " + why + "; restarting it");
      sup.declare_wedged(node, std::move(why));
    };
  };
  gateway::work_probe orch_probe(io.get_executor(), "orchestrator", orch_client, &orch_kv, probe_settings_of(cfg),
                                 ready_process("orchestrator"), wedged("orchestrator"));
  gateway::work_probe sub_probe(io.get_executor(), "subagent", sub_client, nullptr, probe_settings_of(cfg),
                                ready_process("subagent"), wedged("subagent"));
  chat_server chat(io.get_executor(), paths.dir / "chat.sock", pipe);
  reloader reload(io.get_executor(), cfg, sup, {&orch_client, &sub_client, &pipe});  // SIGHUP
  bool started = false;  // the start probes both nodes itself; later readies are probed here
  sup.set_observer([&](const supervisor::node_status& st) {
    if (st.state != supervisor::process_state::ready) return;
    notify(notify_fd, {{"event", "node_ready"}, {"node", st.name}, {"url", st.url()}, {"pid", st.pid.value_or(0)},
                       {"ready_ms", st.ready_ms.value_or(0.0)}, {"model", st.model.string()}});
    orch_probe.reconfigure(probe_settings_of(reload.running()));
    sub_probe.reconfigure(probe_settings_of(reload.running()));
    if (st.name == "orchestrator") {
      // A new process (a restart, a fallback, a reload): its slots hold nothing, and files are
      // valid for the model it runs now.
      if (const auto* n = reload.running().find_node(st.name))
        orch_kv.reconfigure(n->parallel.value_or(1), kv_files_of(reload.running(), *n, st.model));
      orch_kv.node_restarted();
    }
    // The coroutine itself, not a lambda wrapping it: GCC 12 freed a spawned lambda's captures
    // twice (gateway/pipeline.cpp). Its result (a problem text) is logged by the probe.
    if (started)
      asio::co_spawn(io, probe_template(st.name, st.model), [](std::exception_ptr e, std::string) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          core::log_error("daemon", std::string("template probe: ") + ex.what());
        }
      });
  });
  sup.set_worker_observer([&](const supervisor::node_status& st) {
    if (st.state != supervisor::process_state::ready) return;
    const auto snap = sup.snapshot();
    for (const auto& w : snap.workers) {
      if (w.name != st.name) continue;
      notify(notify_fd, {{"event", "worker_ready"}, {"worker", w.name}, {"endpoint", w.endpoint},
                         {"pid", w.pid.value_or(0)}, {"ready_ms", w.ready_ms.value_or(0.0)},
                         {"rpc_version", w.rpc_version}});
    }
  });
  if (auto problem = chat.start(); !problem.empty()) core::log_warn("daemon", "local chat is off: " + problem);
  // The loopback admin endpoint (/status, /metrics, the page) when admin.port is set; null when
  // off or its port is taken (logged). A channel adds its numbers: if (admin) admin->add_collector(...).
  auto admin = start_admin_endpoint(io.get_executor(), cfg, admin_sources{sup, &pipe, search.get(), reader.get(), 0, cfg.state_dir});
  if (admin) admin->add_collector([&orch_kv](core::prometheus_writer& w) { write_kv_metrics(w, orch_kv); });
  if (admin)
    admin->add_collector([&orch_probe, &sub_probe](core::prometheus_writer& w) {
      write_work_probe_metrics(w, {&orch_probe, &sub_probe});
    });

  // Telegram starts polling at once, before the nodes are ready: messages are stored and
  // queue until the models can answer them.
  std::unique_ptr<gateway::telegram::channel> telegram;
  if (cfg.telegram.enabled) {
    // Keep-alive: the Bot API is called several times per message (typing, the answer, its
    // parts); a kept connection spares each call a TCP and TLS handshake with Telegram.
    if (auto http = net::https_client::create({}, net::keep_alive_options{})) {
      gateway::telegram::channel_hooks hooks;
      hooks.handle = [&pipe](std::string chat_id, std::string text, gateway::answer_sink sink,
                             gateway::request_options opts) {
        return pipe.handle(std::move(chat_id), std::move(text), std::move(sink), std::move(opts));
      };
      hooks.reset = [&pipe](const std::string& chat_id) { return pipe.reset(chat_id); };
      hooks.status_text = [&sup] { return status_text_for_chat(sup.snapshot()); };
      telegram = std::make_unique<gateway::telegram::channel>(
          io.get_executor(), gateway::telegram::bot_api(*http, cfg.telegram.api_base, cfg.telegram.token), *store,
          gateway::telegram::channel_settings::from(cfg.telegram), std::move(hooks));
      telegram->start();
      if (admin) {
        auto* ch = telegram.get();
        admin->add_collector([ch](core::prometheus_writer& w) { write_telegram_metrics(w, telegram_metrics_of(ch->stats())); });
        admin->add_page_section([ch] { return telegram_page_section(telegram_metrics_of(ch->stats())); });
      }
    } else {
      core::log_error("daemon", "Telegram is off: cannot set up TLS (" + http.error().message() + ")");
    }
  }

  supervisor::wake_event stop_signal(io.get_executor());
  bool stopping = false;
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  std::function<void()> listen = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;  // cancelled at the end of run_daemon
      if (sig == SIGUSR1) {
        // `openclawd start` on a running daemon: give failed nodes another chance.
        const auto names = sup.retry_failed();
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        core::log_info("daemon", names.empty() ? "SIGUSR1: no failed node to retry" : "SIGUSR1: retrying " + list);
      } else if (sig == SIGHUP) {
        reload.request();
      } else if (!stopping) {
        stopping = true;
        core::log_info("daemon", std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                                     ": stopping both nodes (again to kill them at once)");
        sup.request_stop();
        stop_signal.notify();
      } else {
        core::log_warn("daemon", "second stop signal: killing every node now");
        sup.kill_now();
      }
      listen();
    });
  };
  listen();

  // After a burst (say 200 chats at once) glibc keeps the freed heap: the daemon would idle at
  // its peak. Once no message is in flight, give it back (malloc_trim walks the heap, well
  // under a millisecond at this size), at most once per burst. Measured (bench/README.md): idle
  // RSS 5 s after 200 concurrent chats 22 MiB without, 17.7-18.6 MiB with (12 MiB before the
  // burst; the rest is fragmentation that trimming cannot return).
  asio::steady_timer trim_timer(io);
  auto trim_when_idle = [&]() -> asio::awaitable<void> {
    std::uint64_t trimmed_at = 0;
    for (;;) {
      trim_timer.expires_after(2s);
      if (auto [ec] = co_await trim_timer.async_wait(asio::as_tuple(asio::use_awaitable)); ec) co_return;
      const auto st = pipe.stats();
      if (st.in_flight > 0 || st.requests == trimmed_at) continue;
      trimmed_at = st.requests;
#ifdef __GLIBC__
      ::malloc_trim(0);
#endif
    }
  };
  asio::co_spawn(io, trim_when_idle(), asio::detached);
  // Member coroutines, not lambdas (GCC 12, see above).
  asio::co_spawn(io, orch_probe.run(), asio::detached);
  asio::co_spawn(io, sub_probe.run(), asio::detached);

  auto main_task = [&]() -> asio::awaitable<void> {
    // The first getUpdates goes out before the model servers are spawned (bounded by 1 s when
    // Telegram is slow to answer): two llama-server processes starting up take both cores of a
    // small machine for a moment, and messages should be stored and queued from the first
    // instant. The models then load for seconds either way.
    if (telegram) co_await telegram->polling(1s);
    sup.start_all();
    auto outcome = co_await sup.wait_until_started();
    if (outcome.ok) {
      // A model whose template refuses a plain exchange could never answer: a start error that
      // names the node and the model, not an apology for every message.
      for (const auto& n : sup.snapshot().nodes) {
        if (auto problem = co_await probe_template(n.name, n.model); !problem.empty() && outcome.ok) {
          outcome.ok = false;
          outcome.node = n.name;
          outcome.error = n.name + ": " + problem;
        }
      }
      started = true;
    }
    if (outcome.ok) {
      core::log_info("daemon", "both nodes ready");
      notify(notify_fd, {{"event", "ready"}});
      close_notify();
      reload.start();
      while (!stopping) co_await stop_signal.wait_for(24h);
    } else if (!outcome.aborted) {
      core::log_error("daemon", "start failed: " + outcome.error);
      notify(notify_fd, {{"event", "failed"}, {"node", outcome.node}, {"error", outcome.error}});
      exit_code = 1;
    }
    chat.stop();
    reload.stop();
    trim_timer.cancel();
    orch_probe.stop();
    sub_probe.stop();
    if (telegram) co_await telegram->stop();
    co_await sup.shutdown();
    close_notify();
    core::log_info("daemon", "stopped");
    signals.cancel();
    // Answers still waiting for a node that is now gone are abandoned; their messages are
    // already stored.
    io.stop();
  };
  asio::co_spawn(io, main_task(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      core::log_error("daemon", std::string("fatal: ") + ex.what());
    }
    exit_code = 1;
    // Nothing sensible can continue: kill the children (the model_process destructors
    // reap them) and abandon the remaining coroutines.
    sup.kill_now();
    io.stop();
  });

  io.run();
  close_notify();
  return exit_code;
}

}  // namespace openclawd::app
