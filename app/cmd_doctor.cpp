// `openclawd doctor`: everything `start` would trip over, checked up front and printed as a
// table (check, OK/WARN/FAIL, detail): the config, the state folder, each llama-server
// (`--version`), each model's GGUF header against its ctx, both ports, the RAM estimate, the
// running daemon and the service file. Read-only: it starts nothing and writes nothing.
#include "app/command.hpp"
#include "app/instance.hpp"
#include "app/reload.hpp"
#include "gateway/template_probe.hpp"
#include "app/run_program.hpp"
#include "app/service.hpp"
#include "core/gguf.hpp"
#include "core/model_ref.hpp"
#include "net/http_client.hpp"
#include "net/rpc_hello.hpp"
#include "net/url.hpp"
#include "supervisor/os.hpp"
#include "supervisor/preflight.hpp"
#include "supervisor/state_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <cstdlib>
#include <iostream>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace openclawd::app {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view doctor_usage = R"(usage: openclawd doctor [--config FILE] [--json]

Checks what `openclawd start` needs and prints one line per check with OK, WARN or FAIL:
  config            the YAML is valid, including the files it names (FAIL shows file:line:col)
  config file       nobody else can edit it (it chooses the programs openclawd runs)
  telegram token    (when telegram is on) token_file is a regular file only you can read
                    (else: chmod 600 FILE), or $OPENCLAWD_TELEGRAM_TOKEN is set; never printed
  state_dir         exists and is writable, or can be created; free disk space for the logs
  llama-server      found and executable; runs `llama-server --version` (15 s deadline)
  <node> model      exists and is a GGUF file: architecture, training context, layers,
                    heads, embedding size, quantization; fallbacks too
  <node> ctx        WARN when ctx exceeds the model's training context
  <node> server     (a url: node) answers GET /health with 200 (5 s deadline); WARN if not
  <node> port       free on 127.0.0.1, or held by this openclawd's own running node
  <node> template   what the model's chat template accepts (system role, strict alternation,
                    thinking), asked of the node when it answers (the running daemon's, or a
                    url: server; 15 s deadline), else as the daemon last recorded it; FAIL
                    when it refuses even a plain user/assistant/user exchange
  admin port        (when admin.port is set) free; WARN when another program holds it
  <worker> worker   an RPC worker openclawd runs: its program starts and loads a backend, its
                    port is free; one on another machine: answers the RPC handshake (5 s),
                    its protocol version and the memory its devices offer
  <node> RPC client the node's llama-server can use --rpc (the RPC backend plugin)
  <node> on workers what each worker would hold of the node's weights (split by free memory)
  memory            weights + KV cache for ctx (sliding windows and their checkpoints counted) +
                    llama-server's prompt cache (cache_ram), both nodes, against this machine's RAM
  slot files        the chats' saved KV on disk (slot_files), its cap and the free space
  daemon, service   whether openclawd runs, and whether a service file is installed for it
Nothing is started or written.

  --json   {"ok":…,"failures":…,"warnings":…,"checks":[{"check":…,"verdict":"ok|warn|fail","detail":…}]}
Exit code: 0 when nothing would stop a start (warnings allowed), 1 when something would,
2 when the config cannot be read or is invalid (or a usage error).
)";

enum class verdict { ok, warn, fail };

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::ok: return "OK";
    case verdict::warn: return "WARN";
    case verdict::fail: return "FAIL";
  }
  return "?";
}

struct row {
  std::string check;
  verdict v = verdict::ok;
  std::string detail;
};

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// llama.cpp's llama_ftype numbers for the common exports.
std::string file_type_name(std::uint32_t t) {
  static const char* const names[] = {"F32",    "F16",    "Q4_0",   "Q4_1",   "Q4_1_SOME_F16", "Q4_2", "Q4_3",
                                      "Q8_0",   "Q5_0",   "Q5_1",   "Q2_K",   "Q3_K_S",        "Q3_K_M", "Q3_K_L",
                                      "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"};
  if (t < std::size(names)) return names[t];
  if (t == 32) return "BF16";
  return "file type " + std::to_string(t);
}

std::string describe_model(const core::gguf_info& g) {
  std::string d = (g.architecture.empty() ? std::string("unknown architecture") : g.architecture);
  d += ", training context " + (g.context_length ? std::to_string(g.context_length) : std::string("unknown"));
  d += ", " + std::to_string(g.block_count) + " layers, " + std::to_string(g.head_count) + " heads (" +
       std::to_string(g.head_count_kv) + " KV), embedding " + std::to_string(g.embedding_length);
  if (g.file_type) d += ", " + file_type_name(*g.file_type);
  d += ", " + supervisor::format_bytes(g.file_size);
  return d;
}

std::optional<fs::path> find_program(const fs::path& p) {
  std::error_code ec;
  if (p.has_parent_path()) return p;
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "";
  while (true) {
    const auto colon = rest.find(':');
    const fs::path dir(std::string(rest.substr(0, colon)));
    const auto candidate = (dir.empty() ? fs::path(".") : dir) / p;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return fs::absolute(candidate, ec);
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

row check_llama_server(const std::string& label, const fs::path& configured) {
  row r{label, verdict::ok, ""};
  const auto program = find_program(configured);
  std::error_code ec;
  if (!program) {
    r.v = verdict::fail;
    r.detail = configured.string() + " not found on PATH; set llama_server: to its full path";
    return r;
  }
  if (!fs::exists(*program, ec)) {
    r.v = verdict::fail;
    r.detail = program->string() + " does not exist";
    return r;
  }
  if (!fs::is_regular_file(*program, ec) || ::access(program->c_str(), X_OK) != 0) {
    r.v = verdict::fail;
    r.detail = program->string() + " is not an executable file";
    return r;
  }
  // A Metal or CUDA build may probe its devices first: allow some seconds.
  const auto out = run_program({program->string(), "--version"}, 15s);
  if (!out.ok()) {
    r.v = verdict::fail;
    r.detail = program->string() + " --version: " + out.describe();
    return r;
  }
  std::string version;
  std::size_t pos = 0;
  while (pos < out.output.size()) {
    const auto end = out.output.find('\n', pos);
    const auto line = out.output.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (line.rfind("version:", 0) == 0) {
      version = line.substr(8);
      version.erase(0, version.find_first_not_of(' '));
      break;
    }
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  if (version.empty()) {
    r.v = verdict::warn;
    r.detail = program->string() + " answered --version without a \"version:\" line; is it llama.cpp's llama-server?";
  } else {
    r.detail = program->string() + ", version " + version;
  }
  return r;
}

struct model_check {
  row r;
  fs::path path;
  std::optional<core::gguf_info> info;
  bool missing = false;  // the config itself is refused for a missing file
};

model_check check_model(const std::string& label, const fs::path& path) {
  model_check m{{label, verdict::ok, ""}, path, std::nullopt, false};
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) {
    m.r.v = verdict::fail;
    m.r.detail = path.string() + ": not found";
    m.missing = true;
    return m;
  }
  if (!fs::is_regular_file(st) || ::access(path.c_str(), R_OK) != 0) {
    m.r.v = verdict::fail;
    m.r.detail = path.string() + ": not a readable file";
    m.missing = true;
    return m;
  }
  std::string why;
  auto info = core::read_gguf_info(path, &why);
  if (!info) {
    m.r.v = verdict::fail;
    m.r.detail = path.string() + ": not a valid GGUF model (" + why + ")";
    return m;
  }
  m.info = *info;
  m.r.detail = path.string() + ": " + describe_model(*info);
  return m;
}

// What the lock file says about a reference: its file, size, revision, whether verified.
std::string describe_ref(const std::string& ref, const core::model_lock& lock) {
  const core::locked_model* m = lock.find(ref);
  if (m == nullptr) return ref;
  std::uint64_t size = 0;
  for (const auto& f : m->files) size += f.size;
  std::string parts = m->files.size() > 1 ? ", " + std::to_string(m->files.size()) + " parts" : std::string();
  return ref + " (" + supervisor::format_bytes(size) + parts + ", revision " + m->revision.substr(0, 12) +
         (m->verified ? ", sha256 verified" : ", not verified") + (m->pulled_at.empty() ? "" : ", pulled " + m->pulled_at) +
         ") → ";
}

void check_models(const core::node_config& n, const core::config& cfg, std::vector<row>& rows,
                  std::optional<core::gguf_info>& first_good) {
  std::vector<model_check> checks;
  const auto models = n.models();
  core::model_lock lock;
  if (std::any_of(n.model_refs.begin(), n.model_refs.end(), [](const std::string& r) { return !r.empty(); })) {
    if (auto l = core::read_model_lock(core::lock_file_of(cfg.hub.cache_dir))) lock = std::move(*l);
  }
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::string label = i == 0 ? n.name + " model" : n.name + " fallback " + std::to_string(i);
    const std::string ref = i < n.model_refs.size() ? n.model_refs[i] : std::string();
    if (!ref.empty() && models[i].empty()) {
      // Not an obstacle to a start, which pulls it first; only to an offline one.
      model_check c;
      c.path = models[i];
      c.missing = true;
      c.r = {label, verdict::warn,
             ref + ": not in the model cache (" + cfg.hub.cache_dir.string() +
                 "); `openclawd start` pulls it first from " + cfg.hub.endpoint + " (or run `openclawd pull`); "
                 "`start --offline` would refuse"};
      checks.push_back(std::move(c));
      continue;
    }
    checks.push_back(check_model(label, models[i]));
    if (!ref.empty()) checks.back().r.detail = describe_ref(ref, lock) + checks.back().r.detail;
  }
  const auto good = std::find_if(checks.begin(), checks.end(), [](const model_check& c) { return c.info.has_value(); });
  if (good != checks.end()) first_good = good->info;
  for (auto& c : checks) {
    // A broken export with a good one behind it still starts (the supervisor falls over
    // to it): worth a warning, not a refusal. A missing file is refused by the config.
    if (c.r.v == verdict::fail && !c.missing && good != checks.end()) {
      c.r.v = verdict::warn;
      c.r.detail += "; the node would run " + good->path.string() + " instead";
    }
    rows.push_back(c.r);
  }
}

row check_ctx(const core::node_config& n, const std::optional<core::gguf_info>& info) {
  row r{n.name + " ctx", verdict::ok, "ctx " + std::to_string(n.ctx)};
  if (n.parallel && *n.parallel > 1)
    r.detail += " (" + std::to_string(n.ctx / *n.parallel) + " per slot with parallel " + std::to_string(*n.parallel) + ")";
  if (!info) {
    r.detail += "; no readable model to compare with";
    return r;
  }
  if (info->context_length == 0) {
    r.detail += "; the model does not state its training context";
  } else if (static_cast<std::uint64_t>(n.ctx) > info->context_length) {
    r.v = verdict::warn;
    r.detail += " exceeds the model's training context " + std::to_string(info->context_length) +
                ": text beyond it is out of what the model learned (llama-server may cap it); lower ctx";
  } else {
    r.detail += " of the model's training context " + std::to_string(info->context_length);
  }
  return r;
}

struct running_daemon {
  bool running = false;
  std::optional<int> pid;
  std::optional<supervisor::daemon_status> state;
};

running_daemon look_at_daemon(const state_paths& paths) {
  running_daemon d;
  d.running = instance_lock::held_by_other(paths.lock);
  if (d.running) d.pid = read_pidfile(paths.pid);
  if (auto st = supervisor::read_state_file(paths.state)) d.state = std::move(*st);
  return d;
}

// admin.port: a port taken by another program does not stop a start (the daemon runs without
// its endpoint), so it is a warning. While a daemon runs, the holder is presumably its endpoint.
row check_admin_port(int port, const running_daemon& d) {
  row r{"admin port", verdict::ok, "127.0.0.1:" + std::to_string(port)};
  const auto why = supervisor::port_unavailable(port);
  if (!why) {
    r.detail += " is free";
  } else if (d.running) {
    r.detail += " is in use, by the running daemon's admin endpoint if `openclawd status` shows an admin: line";
  } else {
    r.v = verdict::warn;
    r.detail += " is in use by another program (" + *why + "); the daemon would run without its status page and "
                "metrics; change admin.port";
  }
  return r;
}

row check_port(const core::node_config& n, const running_daemon& d) {
  row r{n.name + " port", verdict::ok, ""};
  const auto why = supervisor::port_unavailable(n.port);
  if (!why) {
    r.detail = "127.0.0.1:" + std::to_string(n.port) + " is free";
    return r;
  }
  if (d.running && d.state) {
    for (const auto& s : d.state->nodes) {
      if (s.port == n.port && s.pid && supervisor::os::same_process_alive(*s.pid, s.pid_start_time)) {
        r.detail = "127.0.0.1:" + std::to_string(n.port) + " is held by this openclawd's " + s.name + " (pid " +
                   std::to_string(*s.pid) + ")";
        return r;
      }
    }
  }
  r.v = verdict::fail;
#if defined(__APPLE__)
  const std::string who = "lsof -nP -iTCP:" + std::to_string(n.port) + " -sTCP:LISTEN";
#else
  const std::string who = "ss -ltnp 'sport = :" + std::to_string(n.port) + "'";
#endif
  r.detail = "127.0.0.1:" + std::to_string(n.port) + " is in use by another program (" + *why + "; `" + who +
             "` shows which); stop it or change nodes." + n.name + ".port";
  return r;
}

row check_state_dir(const core::config& cfg) {
  row r{"state_dir", verdict::ok, ""};
  std::error_code ec;
  fs::path existing = cfg.state_dir;
  while (!fs::exists(existing, ec) && existing.has_parent_path() && existing != existing.parent_path())
    existing = existing.parent_path();
  if (existing == cfg.state_dir) {
    if (!fs::is_directory(existing, ec)) {
      r.v = verdict::fail;
      r.detail = cfg.state_dir.string() + " exists but is not a folder";
      return r;
    }
    if (::access(existing.c_str(), W_OK | X_OK) != 0) {
      r.v = verdict::fail;
      r.detail = cfg.state_dir.string() + " is not writable by this user";
      return r;
    }
    r.detail = cfg.state_dir.string() + " is writable";
  } else {
    if (!fs::is_directory(existing, ec) || ::access(existing.c_str(), W_OK | X_OK) != 0) {
      r.v = verdict::fail;
      r.detail = cfg.state_dir.string() + " does not exist and cannot be created (" + existing.string() +
                 " is not a writable folder)";
      return r;
    }
    r.detail = cfg.state_dir.string() + " does not exist yet; start creates it";
  }
  // Three logs (daemon and two nodes), each up to max_size × (keep + 1) with rotation.
  struct statvfs vfs {};
  if (::statvfs(existing.c_str(), &vfs) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const std::uint64_t logs_need = 3ull * cfg.logs.max_bytes * static_cast<std::uint64_t>(cfg.logs.keep + 1);
    r.detail += "; " + supervisor::format_bytes(free_bytes) + " free";
    if (free_bytes < logs_need) {
      r.v = verdict::warn;
      r.detail += ", less than the logs may take (" + supervisor::format_bytes(logs_need) + ")";
    }
  }
  return r;
}

row check_config_file(const fs::path& file) {
  row r{"config file", verdict::ok, ""};
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    r.v = verdict::warn;
    r.detail = "cannot stat " + file.string();
    return r;
  }
  r.detail = "mode " + octal_mode(st.st_mode);
  if (st.st_uid != ::getuid()) r.detail += ", owned by uid " + std::to_string(st.st_uid);
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    r.v = verdict::warn;
    r.detail += ": other users can edit it, and it names the programs openclawd runs; chmod go-w " + file.string();
  }
  return r;
}

// The Telegram bot token (only when telegram is on): telegram.token_file must be a regular
// file nobody else can read, since the token is the bot's whole identity; or, without a
// file, $OPENCLAWD_TELEGRAM_TOKEN must be set. The token itself is never printed. Whether the
// text looks like a token is load_config's judgement (`strict`: its error when it refused the
// config), reported here too so that this row says everything about the token.
row check_telegram_token(const core::telegram_config& t, const std::optional<core::config_error>& strict) {
  row r{"telegram token", verdict::ok, ""};
  const bool content_refused = strict && strict->key == "telegram.token_file";
  if (t.token_file.empty()) {
    const char* env = std::getenv("OPENCLAWD_TELEGRAM_TOKEN");
    if (env == nullptr || *env == '\0') {
      r.v = verdict::fail;
      r.detail = "no bot token: set telegram.token_file to a file only you can read (chmod 600), or the "
                 "environment variable OPENCLAWD_TELEGRAM_TOKEN";
    } else if (content_refused) {
      r.v = verdict::fail;
      r.detail = strict->message;
    } else {
      r.detail = "from $OPENCLAWD_TELEGRAM_TOKEN (no token_file)";
    }
    return r;
  }
  const auto& f = t.token_file;
  struct stat st {};
  r.v = verdict::fail;
  if (::stat(f.c_str(), &st) != 0) {
    r.detail = f.string() + ": not found (telegram.token_file)";
  } else if (!S_ISREG(st.st_mode)) {
    r.detail = f.string() + " is not a regular file (telegram.token_file)";
  } else if ((st.st_mode & 077) != 0) {
    r.detail = f.string() + " has mode " + octal_mode(st.st_mode) +
               ": other users can read the bot token; chmod 600 " + f.string();
  } else if (::access(f.c_str(), R_OK) != 0) {
    r.detail = f.string() + " cannot be read by this user";
  } else if (content_refused) {
    r.detail = strict->message;
  } else {
    r.v = verdict::ok;
    r.detail = f.string() + ": mode " + octal_mode(st.st_mode);
    if (st.st_uid != ::getuid()) {
      // Its owner can replace the token with one of their own bots.
      r.v = verdict::warn;
      r.detail += ", owned by uid " + std::to_string(st.st_uid) + ", not by you";
    }
  }
  return r;
}

// A url: node's server runs elsewhere: all there is to check is that it answers.
row check_remote(const core::node_config& n) {
  row r{n.name + " server", verdict::ok, ""};
  std::string problem;
  asio::io_context io;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    const auto u = net::parse_url(n.url);
    if (!u) {
      problem = u.error().message();
      co_return;
    }
    const auto ep = co_await net::resolve_endpoint(u->host, u->port, 5s);
    if (!ep) {
      problem = ep.error().message();
      co_return;
    }
    const auto res = co_await net::http_get(*ep, "/health", net::http_get_options{5s, 64 * 1024});
    if (!res) problem = res.error().message();
    else if (res->status != 200) problem = "HTTP " + std::to_string(res->status);
  }, asio::detached);
  io.run_for(15s);  // the deadlines above end it sooner
  if (problem.empty()) {
    r.detail = n.url + " answers GET /health (a server openclawd does not run); ctx " + std::to_string(n.ctx) +
               " should match its -c";
  } else {
    r.v = verdict::warn;
    r.detail = n.url + " does not answer GET /health with 200 (" + problem + "); `start` waits up to its startup_timeout";
  }
  return r;
}

// --- RPC workers ------------------------------------------------------------------------------

// Whether the node's llama-server can use RPC workers at all: ggml loads the RPC client as a
// plugin, and a build or install without it refuses --rpc. Asked with a worker address where
// nothing listens (port 1 on loopback): a server with the plugin tries to connect and says so.
row check_rpc_client(const core::node_config& n) {
  row r{n.name + " RPC client", verdict::ok, ""};
  const auto out = run_program({n.llama_server.string(), "--rpc", "127.0.0.1:1", "--list-devices"}, 20s);
  if (out.output.find("not supported") != std::string::npos) {
    r.v = verdict::fail;
    r.detail = n.llama_server.string() + " has no RPC backend (\"RPC not supported in this build\"): install "
               "libggml0-backend-rpc, or build llama.cpp with -DGGML_RPC=ON";
  } else if (out.output.find("127.0.0.1:1") != std::string::npos) {
    r.detail = n.llama_server.string() + " loads the RPC backend; --rpc " + [&] {
      std::string list;
      for (const auto& e : n.rpc_endpoints) list += (list.empty() ? "" : ",") + e;
      return list;
    }();
  } else {
    r.v = verdict::warn;
    r.detail = "could not tell whether " + n.llama_server.string() + " supports --rpc (" + out.describe() + ")";
  }
  return r;
}

struct worker_facts {
  row r;
  std::optional<std::uint64_t> free_bytes;  // what its devices offer, for the memory share
};

// A worker openclawd runs: its program starts and loads a backend, its port is free (or ours).
worker_facts check_local_worker(const core::worker_config& w, const running_daemon& d) {
  worker_facts f{{w.name + " worker", verdict::ok, ""}, std::nullopt};
  auto& r = f.r;
  const auto out = run_program({w.rpc_server.string(), "--help"}, 20s);
  if (out.output.find("-p, --port") == std::string::npos) {
    r.v = verdict::fail;
    r.detail = w.rpc_server.string() + " --help does not look like llama.cpp's RPC worker (" + out.describe() + ")";
    return f;
  }
  std::string backends;
  for (std::size_t at = out.output.find("loaded "); at != std::string::npos; at = out.output.find("loaded ", at + 1)) {
    const auto end = out.output.find(" backend", at);
    if (end == std::string::npos || end - at > 40) continue;
    backends += (backends.empty() ? "" : ", ") + out.output.substr(at + 7, end - at - 7);
  }
  r.detail = w.rpc_server.string() + (backends.empty() ? std::string() : ", backends " + backends) + "; " + w.endpoint();
  const auto why = supervisor::port_unavailable(w.port);
  bool ours = false;
  if (why && d.running && d.state) {
    for (const auto& s : d.state->workers)
      if (s.name == w.name && s.pid && supervisor::os::same_process_alive(*s.pid, s.pid_start_time)) ours = true;
  }
  if (why && !ours) {
    r.v = verdict::fail;
    r.detail += " is in use by another program (" + *why + "); change workers." + w.name + ".port";
  } else {
    r.detail += ours ? " is held by this openclawd's worker" : " is free";
  }
  if (w.host != "127.0.0.1" && w.host != "localhost") {
    r.v = r.v == verdict::fail ? r.v : verdict::warn;
    r.detail += "; bound to " + w.host + " (allow_network): the RPC protocol has no authentication";
  }
  // A local worker's CPU device offers this machine's memory.
  f.free_bytes = supervisor::os::available_memory_bytes();
  return f;
}

// A worker on another machine: it answers the handshake and says what its devices offer.
worker_facts check_remote_worker(const core::worker_config& w) {
  worker_facts f{{w.name + " worker", verdict::ok, ""}, std::nullopt};
  std::optional<net::rpc_worker_info> info;
  std::string problem;
  asio::io_context io;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    const auto ep = co_await net::resolve_endpoint(w.connect_host(), static_cast<std::uint16_t>(w.connect_port()), 5s);
    if (!ep) {
      problem = ep.error().message();
      co_return;
    }
    auto q = co_await net::rpc_worker_query(*ep, 5s);
    if (!q) problem = q.error() == make_error_code(errc::upstream_http_error) ? "not an RPC worker's answer" : q.error().message();
    else info = *q;
  }, asio::detached);
  io.run_for(15s);
  if (!info) {
    f.r.v = verdict::warn;
    f.r.detail = w.remote + " does not answer the RPC handshake (" + (problem.empty() ? "no answer" : problem) +
                 "); `start` waits up to its startup_timeout. A worker a node already uses answers nobody else";
    return f;
  }
  std::uint64_t free = 0, total = 0;
  for (const auto& dev : info->devices) {
    free += dev.free;
    total += dev.total;
  }
  f.free_bytes = free;
  f.r.detail = w.remote + " answers (RPC " + info->version.text() + "), " + std::to_string(info->devices.size()) +
               " device(s): " + supervisor::format_bytes(free) + " free of " + supervisor::format_bytes(total) +
               "; unauthenticated: keep it on a trusted, firewalled network";
  return f;
}

// What each worker of `n` would hold: llama.cpp splits the offloaded layers by the devices'
// free memory (its default --tensor-split), so the worker's share of the weights.
row check_worker_share(const core::node_config& n, const std::map<std::string, std::optional<std::uint64_t>>& free) {
  row r{n.name + " on workers", verdict::ok, ""};
  std::error_code ec;
  const auto weights = fs::file_size(n.model, ec);
  std::uint64_t sum = 0;
  bool known = !ec;
  for (const auto& name : n.rpc) {
    const auto it = free.find(name);
    if (it == free.end() || !it->second) known = false;
    else sum += *it->second;
  }
  if (!known || sum == 0) {
    r.v = verdict::warn;
    r.detail = "cannot estimate what each worker would hold (a worker did not say its memory)";
    return r;
  }
  for (const auto& name : n.rpc) {
    const double share = static_cast<double>(*free.at(name)) / static_cast<double>(sum);
    const auto bytes = static_cast<std::uint64_t>(share * static_cast<double>(weights));
    r.detail += (r.detail.empty() ? "" : "; ") + name + " about " + supervisor::format_bytes(bytes) + " of the " +
                supervisor::format_bytes(weights) + " of weights";
    if (bytes > *free.at(name) * 9 / 10) r.v = verdict::warn;
  }
  r.detail += " (split by free memory, plus its share of the KV cache; local GPUs, not seen here, take their part)";
  return r;
}

// Asks a node that answers now; else reports what the daemon recorded when the node was last
// ready (state.json keeps it with the model it describes).
row check_template(const core::node_config& n, const running_daemon& d) {
  row r{n.name + " template", verdict::ok, ""};
  const supervisor::node_status* recorded = nullptr;
  if (d.state)
    for (const auto& st : d.state->nodes)
      if (st.name == n.name) recorded = &st;
  const bool live = n.remote() || (d.running && recorded && recorded->state == supervisor::process_state::ready);
  auto describe = [&](const std::string& summary, const std::string& problem, const std::string& how) {
    if (!problem.empty()) {
      r.v = verdict::fail;
      r.detail = "refuses a plain user/assistant/user exchange (" + problem + "): no message could be answered; "
                 "use another export or a --chat-template-file in extra_args";
    } else {
      r.detail = summary;
    }
    r.detail += " (" + how + ")";
  };
  if (live) {
    std::optional<gateway::llm_result<gateway::template_traits>> outcome;
    asio::io_context io;
    gateway::openai_client_options options = client_options_of(n);
    options.deadlines = {5s, 5s, 5s};
    gateway::openai_client client(io.get_executor(), node_peer(n), options);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { outcome = co_await gateway::probe_template(client); },
                   asio::detached);
    io.run_for(15s);
    if (outcome && *outcome) {
      describe((*outcome)->summary(), (*outcome)->refusal, "asked the running node now");
      return r;
    }
    r.detail = outcome ? "could not ask the node (" + outcome->error().to_string() + ")" : "the node did not answer";
  }
  if (recorded && !recorded->chat_template.empty()) {
    describe(recorded->chat_template, recorded->chat_template_problem,
             "recorded when " + recorded->model.filename().string() + " was last ready");
    return r;
  }
  if (r.detail.empty()) r.detail = "asked of the node when it becomes ready (not running now)";
  return r;
}

row check_memory(const core::config& cfg, bool daemon_running) {
  auto m = supervisor::estimate_memory(cfg);
  if (daemon_running) {
    // Our own models already occupy RAM: "available now" would count them twice.
    m.available_bytes.reset();
    m.warnings.clear();
    supervisor::assess_memory(m);
  }
  row r{"memory", m.warnings.empty() ? verdict::ok : verdict::warn, ""};
  std::uint64_t total = 0;
  for (const auto& n : m.nodes) {
    total += n.total();
    r.detail += n.node + " " + supervisor::format_bytes(n.total()) + " (weights " +
                supervisor::format_bytes(n.weights_bytes) + " + KV " +
                (n.kv_known ? supervisor::format_bytes(n.kv_cache_bytes) : std::string("unknown")) +
                (n.checkpoint_bytes > 0 ? " + sliding-window checkpoints " + supervisor::format_bytes(n.checkpoint_bytes)
                                        : std::string()) +
                " + prompt cache " + supervisor::format_bytes(n.prompt_cache_bytes) + "), ";
  }
  r.detail += "total " + supervisor::format_bytes(total);
  if (m.physical_bytes) r.detail += " of " + supervisor::format_bytes(*m.physical_bytes) + " RAM";
  if (m.available_bytes) r.detail += " (" + supervisor::format_bytes(*m.available_bytes) + " available)";
  for (const auto& w : m.warnings) r.detail += "; " + w;
  return r;
}

// Slot files (gateway/kv_keeper.hpp): what they take on disk now, their cap, and the room left.
row check_slot_files(const core::config& cfg) {
  row r{"slot files", verdict::ok, ""};
  std::vector<std::string> nodes;
  for (const auto& n : cfg.nodes)
    if (n.slot_files) nodes.push_back(n.name);
  if (nodes.empty()) {
    r.detail = "off (no node keeps its chats' KV in files)";
    return r;
  }
  std::uint64_t used = 0;
  std::error_code ec;
  const auto kv = cfg.state_dir / "kv";
  for (const auto& e : std::filesystem::recursive_directory_iterator(kv, ec))
    if (e.is_regular_file(ec)) used += e.file_size(ec);
  std::string list;
  for (const auto& n : nodes) list += (list.empty() ? "" : ", ") + n;
  r.detail = list + ": " + supervisor::format_bytes(used) + " in " + kv.string() + ", capped at " +
             supervisor::format_bytes(cfg.slot_files_max) + " (slot_files_max)";
  // The folder may not exist yet: ask about the closest one that does.
  auto probe = kv;
  while (!probe.empty() && !std::filesystem::exists(probe, ec)) probe = probe.parent_path();
  struct statvfs fs {};
  if (!probe.empty() && ::statvfs(probe.c_str(), &fs) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    r.detail += "; " + supervisor::format_bytes(free_bytes) + " free";
    if (free_bytes + used < cfg.slot_files_max) {
      r.v = verdict::warn;
      r.detail += ": less than the cap; lower slot_files_max, or files will fail to save (chats are then read again)";
    }
  }
  return r;
}

row check_service(const core::config& cfg) {
  row r{"service", verdict::ok, ""};
  const auto m = service_manager_from_env().value_or(platform_service_manager());
  const auto file = service_file_path(m);
  std::error_code ec;
  if (!file || !fs::is_regular_file(*file, ec)) {
    r.detail = "not installed (optional: openclawd service install)";
    return r;
  }
  const auto runs = service_file_config(*file, m);
  std::error_code e1, e2;
  if (runs && fs::weakly_canonical(*runs, e1) == fs::weakly_canonical(cfg.source, e2)) {
    r.detail = file->string() + " runs this config";
  } else {
    r.v = verdict::warn;
    r.detail = file->string() + " runs another config (" + (runs ? runs->string() : std::string("?")) +
               "); `openclawd service install --config " + cfg.source.string() + "` switches it";
  }
  return r;
}

void print_table(const std::vector<row>& rows) {
  std::size_t width = 5;
  for (const auto& r : rows) width = std::max(width, r.check.size());
  auto pad = [](std::string s, std::size_t w) {
    s.resize(std::max(s.size(), w), ' ');
    return s;
  };
  std::cout << pad("CHECK", width + 2) << pad("RESULT", 8) << "DETAIL\n";
  for (const auto& r : rows)
    std::cout << pad(r.check, width + 2) << pad(std::string(to_string(r.v)), 8) << r.detail << "\n";
}

int report(const std::vector<row>& rows, bool json, int config_exit) {
  const auto count = [&](verdict v) {
    return std::count_if(rows.begin(), rows.end(), [&](const row& r) { return r.v == v; });
  };
  const auto failures = count(verdict::fail), warnings = count(verdict::warn);
  if (json) {
    nlohmann::json j;
    j["ok"] = failures == 0;
    j["failures"] = failures;
    j["warnings"] = warnings;
    j["checks"] = nlohmann::json::array();
    for (const auto& r : rows) {
      std::string v(to_string(r.v));
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      j["checks"].push_back({{"check", r.check}, {"verdict", v}, {"detail", r.detail}});
    }
    std::cout << j.dump() << "\n";
  } else {
    print_table(rows);
    std::cout << "\n";
    if (failures > 0)
      std::cout << failures << " problem(s) would stop `openclawd start` (FAIL above)"
                << (warnings ? ", and " + std::to_string(warnings) + " warning(s)" : std::string()) << "\n";
    else if (warnings > 0)
      std::cout << warnings << " warning(s); nothing stops `openclawd start`\n";
    else
      std::cout << "no problem found\n";
  }
  if (config_exit != exit_ok) return config_exit;
  return failures > 0 ? exit_runtime_failure : exit_ok;
}

int cmd_doctor(const command_args& a) {
  const bool json = a.flag("json");
  const auto file = find_config_file(a);
  if (!file) return exit_usage;
  std::vector<row> rows;

  // First the structure, without touching the files it names: if that fails, nothing
  // else can be checked, and it is a configuration error (exit 2) as for every command.
  auto cfg = core::load_config(*file, core::load_options{false});
  if (!cfg) {
    rows.push_back({"config", verdict::fail, cfg.error().to_string()});
    return report(rows, json, exit_usage);
  }
  // Then exactly what `start` loads: a missing model or llama-server is refused here,
  // with the line to edit; the rows below say more about each file.
  // A model reference not pulled yet is no obstacle: start pulls it (its row says so).
  core::load_options start_like;
  start_like.allow_unpulled = true;
  const auto strict = core::load_config(*file, start_like);
  if (strict) {
    rows.push_back({"config", verdict::ok, cfg->source.string()});
  } else {
    rows.push_back({"config", verdict::fail, "start would refuse it: " + strict.error().to_string()});
  }
  rows.push_back(check_config_file(cfg->source));
  if (cfg->telegram.enabled)
    rows.push_back(check_telegram_token(cfg->telegram, strict ? std::nullopt : std::optional(strict.error())));
  rows.push_back(check_state_dir(*cfg));

  // Each distinct llama-server once.
  std::vector<fs::path> programs;
  for (const auto& n : cfg->nodes)
    if (!n.remote() && std::find(programs.begin(), programs.end(), n.llama_server) == programs.end())
      programs.push_back(n.llama_server);
  for (const auto& p : programs) {
    std::string label = "llama-server";
    if (programs.size() > 1) {
      for (const auto& n : cfg->nodes)
        if (n.llama_server == p) label = n.name + " llama-server";
    }
    rows.push_back(check_llama_server(label, p));
  }

  for (const auto& n : cfg->nodes) {
    if (n.remote()) {
      rows.push_back(check_remote(n));
      continue;
    }
    std::optional<core::gguf_info> info;
    check_models(n, *cfg, rows, info);
    rows.push_back(check_ctx(n, info));
  }

  const auto paths = state_paths::of(cfg->state_dir);
  const auto daemon = look_at_daemon(paths);
  for (const auto& n : cfg->nodes)
    if (!n.remote()) rows.push_back(check_port(n, daemon));
  for (const auto& n : cfg->nodes) rows.push_back(check_template(n, daemon));
  if (!cfg->workers.empty()) {
    // The strict load found each worker's program (beside llama-server, or on PATH).
    const auto& workers = strict ? strict->workers : cfg->workers;
    std::map<std::string, std::optional<std::uint64_t>> free;
    for (const auto& w : workers) {
      auto f = w.is_remote() ? check_remote_worker(w) : check_local_worker(w, daemon);
      free[w.name] = f.free_bytes;
      rows.push_back(std::move(f.r));
    }
    for (const auto& n : cfg->nodes) {
      if (n.rpc.empty() || n.remote()) continue;
      rows.push_back(check_rpc_client(n));
      rows.push_back(check_worker_share(n, free));
    }
  }
  if (cfg->admin.port != 0) rows.push_back(check_admin_port(cfg->admin.port, daemon));
  rows.push_back(check_memory(*cfg, daemon.running));
  rows.push_back(check_slot_files(*cfg));
  rows.push_back({"daemon", verdict::ok,
                  daemon.running ? "running (pid " + (daemon.pid ? std::to_string(*daemon.pid) : std::string("?")) +
                                       ") with state_dir " + paths.dir.string()
                                 : std::string("not running")});
  rows.push_back(check_service(*cfg));
  return report(rows, json, exit_ok);
}

}  // namespace

const command_spec doctor_command{"doctor", "check binaries, models, ports, memory and folders before a start",
                                  doctor_usage, {"json"}, {"config"}, 0, cmd_doctor};

}  // namespace openclawd::app
