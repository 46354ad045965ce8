// Gateway benchmark: the real `openclawd` daemon, the fake Telegram Bot API
// (tests/support/fake_telegram) delivering messages, and both nodes replaced by `url:` nodes
// pointing at instant loopback servers (bench/instant_llm), so that what is measured is the
// gateway's own cost: long poll, SQLite inbox and turns, pipeline, HTTP to the nodes,
// rendering, sendMessage. One invocation is one run; bench/run_bench.py repeats it and takes
// medians.
//
//   latency     from the moment the fake hands a held getUpdates the update to the moment the
//               final sendMessage for it arrives (the fake's clock at both ends)
//   cpu         the daemon's utime + stime (/proc/<pid>/stat) over a phase, per message
//   memory      VmRSS / VmHWM (/proc/<pid>/status): idle, after a warm-up, every 25 messages
//   first poll  `openclawd start` → the first getUpdates, while both nodes still answer 503
//               "Loading model" (every run, fresh state folder); with --first-poll-runs N also
//               N times on a fresh folder and again after a stop, with instant url: nodes that
//               are loading and with two real llama-server nodes being spawned (tiny models)
//
//   openclawd-bench-gateway --openclawd PATH [--llama-server PATH] [--state-base DIR]
//       [--messages 1000] [--warmup 50] [--chats 200] [--rounds 5] [--streaming off|auto]
//       [--orchestrator-ctx 4096] [--subagent-ctx 4096] [--telegram-tls on] [--first-poll-runs N]
//       [--trace on] [--json FILE]
// Binds 127.0.0.1 only; nothing leaves the machine. Not a test: it measures and writes JSON.
#include "bench/bench_support.hpp"
#include "bench/instant_llm.hpp"
#include "core/gguf.hpp"
#include "tests/support/fake_telegram.hpp"
#include "tests/support/test_certs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include <csignal>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#else
#include <sys/mount.h>  // statfs on macOS and the BSDs
#endif

using namespace openclawd;
using namespace openclawd::bench;
using namespace std::chrono_literals;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* token = "5550001:AAbenchTokenNeverLogged_0123456789";
constexpr std::int64_t single_user = 1;       // the one-chat phase
constexpr std::int64_t first_crowd_user = 2;  // the concurrent phase: users 2 .. 1 + chats

struct options {
  std::string openclawd, llama_server, state_base = "/var/tmp", json_out, streaming = "off";
  int messages = 1000, warmup = 50, chats = 200, rounds = 5, first_poll_runs = 0;
  // The nodes' context sizes: they bound the history each message carries (compaction keeps the
  // orchestrator's prompt under 85 %). The bench's messages are short (~10 tokens a turn), so
  // 4,096 holds ~250 turns, about what 32,768 holds with real messages and answers.
  int orchestrator_ctx = 4096, subagent_ctx = 4096;
  // Telegram over TLS, as in production: the fake serves HTTPS with a certificate from a CA
  // made for the run, which the daemon trusts through SSL_CERT_FILE (OpenSSL's default
  // verify paths read it). Every Bot API call is then a TLS handshake (one request per connection).
  bool telegram_tls = false;
  bool trace = false;  // print the timeline of the last one-chat message (where the time goes)
};

[[noreturn]] void die(const std::string& why) {
  std::cerr << "openclawd-bench-gateway: " << why << "\n";
  std::exit(1);
}

std::string fs_type(const std::filesystem::path& p) {
  struct statfs s {};
  if (::statfs(p.c_str(), &s) != 0) return "unknown";
#ifdef __linux__
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0x01021994: return "tmpfs";
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: break;
  }
  char b[32];
  std::snprintf(b, sizeof b, "0x%lx", static_cast<unsigned long>(s.f_type));
  return b;
#else
  return s.f_fstypename;
#endif
}

// A temporary folder on the storage being measured (disk or tmpfs), removed at the end.
struct work_dir {
  std::filesystem::path path;
  explicit work_dir(const std::filesystem::path& base) {
    std::random_device rd;
    for (;;) {
      path = base / ("openclawd-bench-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
      if (std::filesystem::create_directory(path)) break;
    }
  }
  ~work_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string telegram_yaml(const test::fake_telegram& fake, const std::filesystem::path& token_file, int users,
                          const std::string& streaming) {
  std::string ids;
  for (int u = 1; u <= users; ++u) ids += (u > 1 ? ", " : "") + std::to_string(u);
  return "search:\n  enabled: false\n"
         "telegram:\n"
         "  api_base: " + fake.base_url() + "\n"
         "  token_file: " + token_file.string() + "\n"
         "  allowed_users: [" + ids + "]\n"
         "  streaming: " + streaming + "\n";
}

std::filesystem::path write_token(const std::filesystem::path& dir) {
  const auto p = dir / "bot.token";
  write_file(p, std::string(token) + "\n", 0600);
  return p;
}

// The steady-clock time of the first request for `method` the fake saw.
std::optional<clock_type::time_point> first_call(const test::fake_telegram& fake, const std::string& method) {
  for (const auto& c : fake.requests())
    if (c.method == method) return c.time;
  return std::nullopt;
}

void stop_daemon(const options& o, const std::filesystem::path& config) {
  const auto r = run_command({o.openclawd, "stop", "--config", config.string()}, 60s);
  if (r.exit_code != 0) std::cerr << "warning: openclawd stop exited " << r.exit_code << ": " << r.err << "\n";
}

json sample_json(const proc_sample& s) {
  return {{"rss_mib", s.rss_kib / 1024.0}, {"hwm_mib", s.hwm_kib / 1024.0}, {"fds", s.fds}, {"threads", s.threads},
          {"cpu_ms", s.cpu_ms}};
}

json summary(const std::vector<double>& lat, double cpu_ms, std::size_t n) {
  return {{"messages", n},
          {"p50_ms", percentile(lat, 0.50)},
          {"p90_ms", percentile(lat, 0.90)},
          {"p99_ms", percentile(lat, 0.99)},
          {"max_ms", lat.empty() ? 0.0 : *std::max_element(lat.begin(), lat.end())},
          {"cpu_ms_per_message", n ? cpu_ms / static_cast<double>(n) : 0.0}};
}

// ---- start -> first getUpdates while the nodes are still loading ---------------------------

// `openclawd start` until the fake sees the first getUpdates, twice per run: on a fresh state
// folder (the database is created), then again after a stop (the usual start). With
// spawned = false both nodes are instant `url:` servers answering 503 "Loading model" until
// that first getUpdates has been seen; with spawned = true they are two real llama-server
// processes with tiny models, started by the daemon.
json first_poll(const options& o, int runs, bool spawned) {
  std::vector<double> fresh, again, ready;
  int before_ready = 0, measured = 0;
  for (int i = 0; i < runs; ++i) {
    work_dir wd(o.state_base);
    test::fake_telegram fake(token);
    std::optional<instant_llm> orchestrator, subagent;
    std::string nodes;
    if (spawned) {
      for (const char* n : {"orchestrator", "subagent"}) {
        if (!core::write_tiny_model(wd.path / (std::string(n) + ".gguf"), core::tiny_model_kind::hello))
          die("cannot write a tiny model");
      }
      nodes = "llama_server: " + o.llama_server + "\n"
              "nodes:\n"
              "  orchestrator: {model: " + (wd.path / "orchestrator.gguf").string() +
              ", ctx: 4096, port: " + std::to_string(free_port()) + ", parallel: 1, threads: 1}\n"
              "  subagent: {model: " + (wd.path / "subagent.gguf").string() +
              ", ctx: 2048, port: " + std::to_string(free_port()) + ", parallel: 1, threads: 1}\n";
    } else {
      orchestrator.emplace("instant-orchestrator");
      subagent.emplace("instant-subagent");
      nodes = "nodes:\n"
              "  orchestrator: {url: " + orchestrator->url() + ", ctx: 4096}\n"
              "  subagent: {url: " + subagent->url() + ", ctx: 4096}\n";
    }
    const auto config = wd.path / "openclawd.yaml";
    write_file(config, "state_dir: " + (wd.path / "state").string() + "\n" + nodes +
                           telegram_yaml(fake, write_token(wd.path), 1, o.streaming));
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (orchestrator) {
        orchestrator->set_loading(true);
        subagent->set_loading(true);
      }
      const std::size_t polls_before = fake.calls("getUpdates");
      const auto t0 = clock_type::now();
      const pid_t starter = spawn_command({o.openclawd, "start", "--config", config.string()}, wd.path / "start.out",
                                          wd.path / "start.err");
      if (!fake.wait_for([&] { return fake.calls("getUpdates") > polls_before; }, 60s))
        die("no getUpdates within 60 s of `openclawd start`: " + slurp(wd.path / "start.err"));
      if (orchestrator) {
        orchestrator->set_loading(false);
        subagent->set_loading(false);
      }
      const auto code = wait_exit(starter, 120s);
      const auto t_ready = clock_type::now();
      if (code != 0) die("openclawd start failed: " + slurp(wd.path / "start.err"));
      // The first getUpdates of this start.
      std::optional<clock_type::time_point> first;
      for (const auto& c : fake.requests())
        if (c.method == "getUpdates" && c.time >= t0) {
          first = c.time;
          break;
        }
      const double f = ms_between(t0, *first);
      (attempt == 0 ? fresh : again).push_back(f);
      if (spawned) {
        ready.push_back(ms_between(t0, t_ready));
        if (f < ready.back()) ++before_ready;
        ++measured;
      }
      stop_daemon(o, config);
    }
  }
  json out{{"runs", runs}, {"fresh_state_ms", percentile(fresh, 0.5)}, {"restart_ms", percentile(again, 0.5)},
           {"fresh_state_all_ms", fresh}, {"restart_all_ms", again}};
  if (spawned) {
    out["start_to_ready_ms"] = percentile(ready, 0.5);
    out["polled_before_ready"] = std::to_string(before_ready) + " of " + std::to_string(measured);
  }
  return out;
}

// ---- one run: start, idle, one chat, many chats ---------------------------------------------

json run(const options& o) {
  work_dir wd(o.state_base);
  instant_llm orchestrator("instant-orchestrator"), subagent("instant-subagent");
  orchestrator.set_loading(true);  // "Loading model" until the first getUpdates has been seen
  subagent.set_loading(true);
  test::fake_telegram_options fake_options;
  std::map<std::string, std::string> daemon_env;
  if (o.telegram_tls) {
    const auto ca = test::make_test_ca("openclawd bench CA");
    fake_options.tls = ca.issue({"localhost"}, {"127.0.0.1"});
    write_file(wd.path / "ca.pem", ca.ca.cert_pem);
    daemon_env["SSL_CERT_FILE"] = (wd.path / "ca.pem").string();
  }
  test::fake_telegram fake(token, fake_options);
  const auto config = wd.path / "openclawd.yaml";
  const auto state = wd.path / "state";
  const int users = 1 + o.chats;
  write_file(config, "state_dir: " + state.string() + "\n"
                     "nodes:\n"
                     "  orchestrator: {url: " + orchestrator.url() + ", ctx: " + std::to_string(o.orchestrator_ctx) +
                     ", parallel: 1}\n"
                     "  subagent: {url: " + subagent.url() + ", ctx: " + std::to_string(o.subagent_ctx) +
                     ", parallel: 1}\n" +
                     telegram_yaml(fake, write_token(wd.path), users, o.streaming));

  json out;
  out["storage"] = {{"path", o.state_base}, {"fs", fs_type(wd.path)}};
  out["streaming"] = o.streaming;
  out["telegram_tls"] = o.telegram_tls;
  out["ctx"] = {{"orchestrator", o.orchestrator_ctx}, {"subagent", o.subagent_ctx}};
  out["load_avg_1m_start"] = load_average();

  // Start: polling must begin while both nodes are still loading.
  const auto t0 = clock_type::now();
  const pid_t starter = spawn_command({o.openclawd, "start", "--config", config.string()}, wd.path / "start.out",
                                      wd.path / "start.err", daemon_env);
  if (!fake.wait_for([&] { return fake.calls("getUpdates") > 0; }, 30s))
    die("no getUpdates within 30 s of `openclawd start`: " + slurp(wd.path / "start.err"));
  out["first_poll_fresh_ms"] = ms_between(t0, *first_call(fake, "getUpdates"));
  out["first_getme_ms"] = ms_between(t0, *first_call(fake, "getMe"));
  orchestrator.set_loading(false);
  subagent.set_loading(false);
  if (const auto code = wait_exit(starter, 60s); code != 0)
    die("openclawd start failed (" + std::to_string(code.value_or(-1)) + "): " + slurp(wd.path / "start.err"));
  const pid_t pid = std::stoi(slurp(state / "openclawd.pid"));

  std::this_thread::sleep_for(2s);  // idle: only the held long poll and the health probes
  const auto idle = sample_process(pid);
  out["idle"] = sample_json(idle);

  json series = json::array();  // (messages so far, rss) for the plot
  std::size_t handled = 0, base = fake.sent_count();
  auto note_memory = [&](const char* phase) {
    const auto s = sample_process(pid);
    series.push_back({{"messages", handled}, {"rss_mib", s.rss_kib / 1024.0}, {"fds", s.fds}, {"phase", phase}});
  };
  note_memory("idle");

  // One chat, one message at a time: the next is pushed once the previous answer has arrived
  // and a getUpdates is held again.
  clock_type::time_point last_push, last_sent;  // of the latest one-chat message (--trace)
  auto one_chat = [&](int n, std::vector<double>* latencies, const char* phase) {
    for (int i = 0; i < n; ++i) {
      if (!fake.wait_for([&] { return fake.pending_poll(); }, 30s)) die("the daemon stopped polling");
      const auto t = clock_type::now();
      const std::string text = "Message " + std::to_string(i) + ": what is new today?";
      fake.push_message(single_user, single_user, text);
      if (!fake.wait_for([&] { return fake.sent_count() > base; }, 30s))
        die("no answer within 30 s (message " + std::to_string(i) + ")");
      const auto got = fake.sent_since(base);
      base += got.size();
      last_push = t;
      last_sent = got.back().time;
      if (latencies) latencies->push_back(ms_between(t, got.back().time));
      ++handled;
      if (handled % 25 == 0) note_memory(phase);
    }
  };

  one_chat(o.warmup, nullptr, "warmup");
  const auto warm = sample_process(pid);
  out["after_warmup"] = sample_json(warm);

  std::vector<double> single;
  const auto cpu0 = sample_process(pid).cpu_ms;
  one_chat(o.messages, &single, "one chat");
  const auto after_single = sample_process(pid);
  if (o.trace) {
    // The last message's path: every Telegram and node request between its push and its
    // answer, in order (request arrival times at the fakes).
    std::vector<std::pair<clock_type::time_point, std::string>> events{{last_push, "update handed to the held getUpdates"}};
    for (const auto& c : fake.requests())
      if (c.time >= last_push && c.time <= last_sent) events.emplace_back(c.time, "telegram " + c.method);
    for (const auto* node : {&orchestrator, &subagent})
      for (const auto& [t, what] : node->recent())
        if (t >= last_push && t <= last_sent)
          events.emplace_back(t, std::string(node == &orchestrator ? "orchestrator " : "subagent ") + what);
    std::sort(events.begin(), events.end());
    std::printf("the last message, step by step:\n");
    for (const auto& [t, what] : events) std::printf("  %8.3f ms  %s\n", ms_between(last_push, t), what.c_str());
  }
  out["one_chat"] = summary(single, after_single.cpu_ms - cpu0, single.size());
  out["one_chat"]["latencies_ms"] = single;
  out["after_one_chat"] = sample_json(after_single);

  // Many chats at once: `chats` users each send one message at the same moment; `rounds` times.
  std::vector<double> crowd;
  const auto cpu1 = sample_process(pid).cpu_ms;
  for (int r = 0; r < o.rounds; ++r) {
    if (!fake.wait_for([&] { return fake.pending_poll(); }, 30s)) die("the daemon stopped polling");
    std::map<std::int64_t, clock_type::time_point> pushed;
    for (int c = 0; c < o.chats; ++c) {
      const std::int64_t user = first_crowd_user + c;
      pushed[user] = clock_type::now();
      const std::string text = "Round " + std::to_string(r) + " from chat " + std::to_string(user);
      fake.push_message(user, user, text);
    }
    const std::size_t want = base + static_cast<std::size_t>(o.chats);
    if (!fake.wait_for([&] { return fake.sent_count() >= want; }, 300s))
      die("round " + std::to_string(r) + ": not every chat was answered within 300 s");
    for (const auto& m : fake.sent_since(base)) crowd.push_back(ms_between(pushed.at(m.chat_id), m.time));
    base = fake.sent_count();
    handled += static_cast<std::size_t>(o.chats);
    note_memory("200 chats");
  }
  const auto after_crowd = sample_process(pid);
  out["many_chats"] = summary(crowd, after_crowd.cpu_ms - cpu1, crowd.size());
  out["many_chats"]["chats"] = o.chats;
  out["many_chats"]["rounds"] = o.rounds;
  out["many_chats"]["latencies_ms"] = crowd;
  out["after_many_chats"] = sample_json(after_crowd);
  std::this_thread::sleep_for(5s);  // the typing loops end, connections close: idle again
  out["end_idle"] = sample_json(sample_process(pid));
  note_memory("end idle");
  out["memory_series"] = series;
  out["llm_requests"] = orchestrator.requests() + subagent.requests();
  out["telegram_requests"] = fake.requests().size();

  // Anything the daemon complained about (a healthy run has nothing).
  int warnings = 0;
  std::ifstream log(state / "logs" / "daemon.log");
  for (std::string line; std::getline(log, line);)
    if (line.find(" WARN ") != std::string::npos || line.find(" ERROR ") != std::string::npos) ++warnings;
  out["daemon_log_warnings"] = warnings;
  stop_daemon(o, config);
  out["load_avg_1m_end"] = load_average();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--openclawd") o.openclawd = v;
    else if (a == "--llama-server") o.llama_server = v;
    else if (a == "--state-base") o.state_base = v;
    else if (a == "--json") o.json_out = v;
    else if (a == "--streaming") o.streaming = v;
    else if (a == "--messages") o.messages = std::stoi(v);
    else if (a == "--warmup") o.warmup = std::stoi(v);
    else if (a == "--chats") o.chats = std::stoi(v);
    else if (a == "--rounds") o.rounds = std::stoi(v);
    else if (a == "--first-poll-runs") o.first_poll_runs = std::stoi(v);
    else if (a == "--orchestrator-ctx") o.orchestrator_ctx = std::stoi(v);
    else if (a == "--subagent-ctx") o.subagent_ctx = std::stoi(v);
    else if (a == "--telegram-tls") o.telegram_tls = v == "1" || v == "yes" || v == "on";
    else if (a == "--trace") o.trace = v == "1" || v == "yes" || v == "on";
    else die("unknown option " + a);
  }
  if (o.openclawd.empty()) die("--openclawd PATH is required");
  if (o.first_poll_runs > 0 && o.llama_server.empty()) die("--first-poll-runs needs --llama-server PATH");

  json out = run(o);
  if (o.first_poll_runs > 0) {
    out["first_poll"] = {{"url_nodes_loading", first_poll(o, o.first_poll_runs, false)},
                         {"spawned_llama_server", first_poll(o, o.first_poll_runs, true)}};
    const auto& f = out["first_poll"];
    std::printf("start -> first getUpdates (median of %d): url nodes loading %.1f ms (fresh state %.1f); "
                "spawning llama-server %.1f ms (fresh %.1f), polled before ready %s\n",
                o.first_poll_runs, f["url_nodes_loading"]["restart_ms"].get<double>(),
                f["url_nodes_loading"]["fresh_state_ms"].get<double>(),
                f["spawned_llama_server"]["restart_ms"].get<double>(),
                f["spawned_llama_server"]["fresh_state_ms"].get<double>(),
                f["spawned_llama_server"]["polled_before_ready"].get<std::string>().c_str());
  }
  out["machine"] = machine_info();

  const auto& one = out["one_chat"];
  const auto& many = out["many_chats"];
  std::printf("storage %s (%s), streaming %s, Telegram over %s, load %.1f\n", o.state_base.c_str(),
              out["storage"]["fs"].get<std::string>().c_str(), o.streaming.c_str(),
              o.telegram_tls ? "TLS" : "plain HTTP", load_average());
  std::printf("  1 chat:    p50 %7.2f ms  p99 %7.2f ms  cpu %5.2f ms/msg  (%d messages)\n", one["p50_ms"].get<double>(),
              one["p99_ms"].get<double>(), one["cpu_ms_per_message"].get<double>(), o.messages);
  std::printf("  %d chats: p50 %7.2f ms  p99 %7.2f ms  cpu %5.2f ms/msg  (%d rounds)\n", o.chats,
              many["p50_ms"].get<double>(), many["p99_ms"].get<double>(),
              many["cpu_ms_per_message"].get<double>(), o.rounds);
  std::printf("  rss idle %.1f MiB, after warm-up %.1f, after %d more %.1f, after the chats %.1f (peak %.1f); first poll %.1f ms (fresh state)\n",
              out["idle"]["rss_mib"].get<double>(), out["after_warmup"]["rss_mib"].get<double>(), o.messages,
              out["after_one_chat"]["rss_mib"].get<double>(), out["after_many_chats"]["rss_mib"].get<double>(),
              out["after_many_chats"]["hwm_mib"].get<double>(), out["first_poll_fresh_ms"].get<double>());
  if (!o.json_out.empty()) {
    std::filesystem::create_directories(std::filesystem::path(o.json_out).parent_path());
    std::ofstream(o.json_out) << out.dump(1) << "\n";
  }
  return 0;
}
