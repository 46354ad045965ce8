// The daemon's configuration: native structs filled from one YAML file by
// load_config(). yaml-cpp is used only inside config.cpp. Pure data: no I/O
// beyond reading the file and checking the paths it names.
#pragma once

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace openclawd::core {

using duration = std::chrono::milliseconds;

// Where a config error was found, and what was wrong. Rendered by to_string() as
//   /abs/openclawd.yaml:12:5: nodes.orchestrator.ctx: expected a positive integer, found "-1"
// Line and column are 1-based; 0 means "the file as a whole" (e.g. it cannot be read).
struct config_error {
  std::filesystem::path file;
  int line = 0;
  int column = 0;
  std::string key;      // dotted path: "nodes.orchestrator.ctx"; empty for file-level errors
  std::string message;  // "expected a positive integer, found \"-1\"", "unknown key; did you mean \"ctx\"?"

  std::string to_string() const;
};

template <class T>
using config_result = boost::system::result<T, config_error>;

// Lets config_result<T>::value() throw a readable exception on error.
[[noreturn]] void throw_exception_from_error(const config_error& e, const boost::source_location& loc);

// One llama-server process. The two nodes are named "orchestrator" and "subagent".
struct node_config {
  std::string name;
  std::filesystem::path llama_server;            // absolute; the node's own `llama_server:` or the top-level one
  std::filesystem::path model;                   // absolute
  std::vector<std::filesystem::path> fallbacks;  // absolute; tried in order after `model` fails for good
  // Parallel to models(): the reference each was written as ("hf:owner/repo:Q4_K_M",
  // core/model_ref.hpp), or "" for a plain path. A reference's path is its file in the model
  // cache (hub.cache_dir), from the lock file; empty while it is not pulled (only with
  // load_options::allow_unpulled or without check_files).
  std::vector<std::string> model_refs;
  int ctx = 0;                                   // -c, required, > 0
  int gpu_layers = 0;                            // -ngl, >= 0 (default 0)
  int port = 0;                                  // --port, required, 1..65535, distinct across nodes
  std::optional<int> threads;                    // -t, > 0
  std::optional<int> parallel;                   // -np, > 0
  std::vector<std::string> extra_args;           // appended verbatim to the argv
  // --cache-ram: llama-server's host-memory prompt cache, in bytes (passed in MiB). Its own
  // default is 8 GiB per server, which on the story's 40 GB machine decides between running
  // and swapping; the loader sets 2 GiB for the orchestrator and 512 MiB for the subagent.
  std::uint64_t cache_ram = 0;
  // Keep each chat's KV in slot files (--slot-save-path slot_dir, gateway/kv_keeper.hpp): a
  // chat comes back without being read again after another chat used the slot or a restart.
  // Default on for the orchestrator (slow to read prompts), off for the subagent.
  bool slot_files = false;
  std::filesystem::path slot_dir;                // state_dir/kv/<name> when slot_files
  duration startup_timeout{std::chrono::seconds(600)};  // spawn → GET /health 200
  duration stop_timeout{std::chrono::seconds(10)};      // SIGTERM → SIGKILL grace period
  // `url:` instead of `model:`: a server openclawd does not start, stop or restart; it only
  // health-checks it and sends it requests. "http://host:port" (the port always written).
  // Empty for a node openclawd spawns. With a url, the keys that shape a command line
  // (model, fallbacks, port, gpu_layers, threads, extra_args, llama_server, stop_timeout)
  // are refused, so they stay at their defaults here.
  std::string url;
  // llama.cpp RPC workers that hold part of this node's layers (`rpc: [name, ...]`, entries of
  // config::workers), and their "host:port" in the same order, passed as `--rpc a,b`. The node
  // starts only once they all answer (docs/operations.md, "RPC workers").
  std::vector<std::string> rpc;
  std::vector<std::string> rpc_endpoints;

  bool remote() const { return !url.empty(); }
  // The full model list in the order the supervisor tries it: model, then fallbacks.
  std::vector<std::filesystem::path> models() const;
  // Field by field: a reload compares the old and new config of each node.
  bool operator==(const node_config&) const = default;
};

// One llama.cpp RPC worker (ggml-rpc-server): a process that lends its RAM, CPU or GPU to a
// node's layers. `remote:` names one that runs on another machine, which openclawd only checks;
// otherwise openclawd spawns and supervises it like a node. The RPC protocol has no
// authentication: a worker on anything but loopback serves whoever reaches its port.
struct worker_config {
  std::string name;
  std::string remote;                   // "host:port" of a worker someone else runs; empty: ours
  std::filesystem::path rpc_server;     // absolute; the worker's program (ours only)
  std::string host = "127.0.0.1";      // -H; anything else needs allow_network
  int port = 0;                         // -p, required for ours
  std::optional<int> threads;           // -t
  std::string device;                   // -d: comma-separated ggml devices; empty: all
  bool cache = false;                   // -c: ggml's local tensor cache
  bool allow_network = false;           // the opt-in for a host other than loopback
  duration startup_timeout{std::chrono::seconds(60)};  // spawn → first answered handshake
  duration stop_timeout{std::chrono::seconds(5)};      // SIGTERM → SIGKILL

  bool is_remote() const { return !remote.empty(); }
  std::string endpoint() const { return is_remote() ? remote : host + ":" + std::to_string(port); }
  // Where to connect to ask it something: the remote address split (an IPv6 address without
  // its brackets), or this machine's worker (loopback when it binds every address).
  std::string connect_host() const;
  int connect_port() const;
  bool operator==(const worker_config&) const = default;
};

// How a crashed or wedged node is brought back (s6/supervisord style).
struct restart_config {
  duration backoff_initial{std::chrono::seconds(1)};  // first delay; doubles per quick failure
  duration backoff_max{std::chrono::seconds(60)};     // the doubling stops here
  duration stable_after{std::chrono::seconds(60)};    // ready this long → failure count resets
  int max_failures = 5;  // quick failures in a row before the next fallback, or `failed`

  bool operator==(const restart_config&) const = default;
};

// The liveness probe while a node is ready.
struct health_config {
  duration interval{std::chrono::seconds(5)};  // time between probes
  duration timeout{std::chrono::seconds(5)};   // deadline of one probe (connect + answer)
  int failures = 3;                            // failed probes in a row that mean "wedged": restart
  // GET /health says 200 while a node's backend hangs (a wedged GPU driver, a lost RPC worker):
  // a node idle this long is asked for a 1-token test completion, never while a request of its
  // own is in flight; `failures` of them in a row (the next ones `interval` apart) restart it.
  // 0: off.
  duration work_probe_idle{std::chrono::minutes(5)};
  duration work_probe_timeout{std::chrono::seconds(60)};  // the test completion's deadline

  bool operator==(const health_config&) const = default;
};

// Per-node log files under <state_dir>/logs, rotated by size.
struct logs_config {
  std::uint64_t max_bytes = 10ull * 1024 * 1024;  // rotate when a file would exceed this
  int keep = 3;                                   // rotated files kept: node.log.1 .. node.log.<keep>

  bool operator==(const logs_config&) const = default;
};

// The DuckDuckGo web-search tool (tools/web_search.hpp, docs/search.md): where to ask, how
// politely, and how long to stay away after a block.
inline constexpr const char* default_search_user_agent =
#ifdef __APPLE__
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Firefox/128.0";
#else
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
#endif

struct search_config {
  bool enabled = true;
  std::string endpoint = "https://html.duckduckgo.com/html/";  // http:// only to loopback (tests)
  std::string region = "wt-wt";                                 // DDG's kl: wt-wt = no region
  std::string time_limit;                                       // DDG's df: "", "d", "w", "m" or "y"
  int max_results = 5;                                          // results handed on, 1..20
  duration connect_timeout{std::chrono::seconds(10)};           // each of DNS, TCP connect, TLS handshake
  duration read_timeout{std::chrono::seconds(10)};              // sending the query, reading the page
  duration min_interval{std::chrono::seconds(2)};               // between the starts of two requests
  duration max_wait{std::chrono::seconds(10)};                  // longest wait for a turn; then refused
  duration cache_ttl{std::chrono::minutes(10)};                 // 0: no cache
  int cache_entries = 256;
  duration backoff_initial{std::chrono::minutes(1)};            // pause after a block; doubles per block
  duration backoff_max{std::chrono::hours(1)};
  std::string user_agent = default_search_user_agent;           // stable for the life of the process
  int max_query_length = 400;                                   // bytes; DDG refuses 500 and more
  std::uint64_t max_page_size = 2ull * 1024 * 1024;             // a larger page is not read
  int max_output_chars = 4000;                                  // text handed to a model, fence included

  bool operator==(const search_config&) const = default;
};

// The page-reading tool (tools/web_reader.hpp, docs/pages.md): links in a message, and the
// top search results when the orchestrator asks for them, are fetched (SSRF-safe:
// net/page_fetch.hpp) and their readable text handed to the subagent, with citations.
struct pages_config {
  bool enabled = true;
  int read_results = 2;      // top search results read when the orchestrator asks to read, 1..5
  int max_urls = 3;          // links taken from one message, 1..10
  bool allow_http = false;   // plain http:// pages (https:// always)
  int max_redirects = 3;
  std::uint64_t max_body = 2ull * 1024 * 1024;  // bytes read from one page; reading stops there
  int max_chars = 50000;     // readable text kept per page (before the prompt's budget shares it)
  duration connect_timeout{std::chrono::seconds(10)};  // each of DNS, TCP connect, TLS handshake
  duration read_timeout{std::chrono::seconds(15)};     // the request, the headers, between body reads
  duration page_timeout{std::chrono::seconds(20)};     // one page, all redirects included
  duration message_timeout{std::chrono::seconds(30)};  // all pages of one message together
  duration min_interval{std::chrono::seconds(1)};      // between two requests to the same host
  duration cache_ttl{std::chrono::minutes(15)};        // 0: no cache
  int cache_entries = 64;
  duration backoff_initial{std::chrono::minutes(1)};   // a host that blocked us is left alone this long; doubles
  duration backoff_max{std::chrono::hours(1)};
  std::string user_agent;    // empty: a browser-like default naming openclawd

  bool operator==(const pages_config&) const = default;
};

// The agent pipeline (gateway/pipeline.hpp, docs/pipeline.md). Empty prompts and a zero
// decision_max_tokens mean the built-in defaults.
struct pipeline_settings {
  std::string orchestrator_prompt;  // fixed text: no clock or per-turn data (it would break the prompt cache)
  std::string subagent_prompt;
  int decision_max_tokens = 0;   // 0: 24, plus room for a brief when decision_brief_chars is set
  int decision_brief_chars = 0;  // 0: the decision has no brief (fewest tokens on the critical path)
  // The longest brief accepted: a brief is a few lines for the subagent, and the decision's
  // grammar (gateway/decision.hpp) spells the bound out as that many nested rules.
  static constexpr int decision_brief_max_chars = 1000;
  int answer_max_tokens = 1024;  // the subagent's answer, and the room kept free for it
  int summary_max_tokens = 384;  // one running summary
  int compact_at_percent = 85;   // compact the orchestrator's prompt when it passes this share of ctx
  int compact_to_percent = 50;   // ... down to this share, in one step
  // Output that aborts a stream as degenerate (regular expressions); the story's broken
  // export emitted endless <unused50> tokens.
  std::vector<std::string> degenerate_patterns{"<unused\\d+>"};
  int max_answer_chars = 16000;       // longer answers are cut off as runaways
  std::vector<int> banned_tokens;     // token ids the models may never sample (logit_bias)
  int strikes = 1;                    // degenerate answers from one model before its next fallback
  duration not_ready_wait{std::chrono::seconds(120)};  // a (re)starting node is waited for this long

  bool operator==(const pipeline_settings&) const = default;
};

// The Telegram channel (gateway/telegram/, docs/telegram.md). Off unless the section is
// present. The token never appears in a log line, an error or `status`.
enum class stranger_policy { refuse_daily, ignore };

struct telegram_config {
  bool enabled = false;
  std::string api_base = "https://api.telegram.org";  // http:// only to loopback (a local Bot API server, tests)
  std::filesystem::path token_file;                   // absolute; empty: $OPENCLAWD_TELEGRAM_TOKEN
  // The bot token, read by load_config (from token_file or the environment) when it checks
  // files; empty otherwise. A secret: never print it.
  std::string token;
  std::vector<std::int64_t> allowed_users;   // numeric user ids; empty: nobody (deny by default)
  std::vector<std::int64_t> allowed_groups;  // group chat ids where the bot answers when addressed
  stranger_policy strangers = stranger_policy::refuse_daily;
  duration poll_timeout{std::chrono::seconds(30)};  // getUpdates long-poll timeout (Telegram caps it at 50 s)
  // No getUpdates has completed for this long: polling is restarted (new connection).
  duration watchdog{std::chrono::seconds(120)};
  std::string streaming = "auto";                   // auto (drafts in private chats, else edits), edit, off
  duration edit_interval{std::chrono::seconds(1)};  // the shortest gap between two preview updates of one reply
  duration typing_interval{std::chrono::seconds(4)};
  // "typing…" starts only when no reply has gone out this long after the message: the Bot API
  // asks bots to show it only for replies that take a noticeable time.
  duration typing_delay{std::chrono::milliseconds(500)};
  int max_input_chars = 8000;  // longer messages get a polite refusal instead of reaching a model

  bool operator==(const telegram_config&) const = default;
};

// Where models named by reference (`hf:owner/repo:QUANT`) come from and are kept
// (app/hub_client.hpp, docs/configuration.md "Models by name").
struct hub_config {
  // The Hugging Face Hub, or a mirror: the key, else $MODEL_ENDPOINT (llama.cpp's variable),
  // else $HF_ENDPOINT (huggingface_hub's), else https://huggingface.co/. Always ends in '/'.
  // http:// only to loopback (a local mirror, tests).
  std::string endpoint;
  std::filesystem::path cache_dir;   // absolute; default core::default_model_cache_dir()
  std::filesystem::path token_file;  // absolute; empty: $HF_TOKEN (or none). Never logged.
  int parallel = 2;                  // files downloaded at once (1..8): gentle on the Hub and the disk

  bool operator==(const hub_config&) const = default;
};

// The loopback admin endpoint: /status (JSON), /metrics (Prometheus), / (an HTML page).
struct admin_config {
  int port = 0;  // 0: off. Always bound to 127.0.0.1.

  bool operator==(const admin_config&) const = default;
};

struct config {
  std::filesystem::path source;        // absolute path of the file this was loaded from
  std::filesystem::path state_dir;     // absolute; pidfile, lock, state.json, logs/
  std::vector<node_config> nodes;      // orchestrator first, then subagent
  std::vector<worker_config> workers;  // in file order; every one is listed by some node
  restart_config restart;
  health_config health;
  logs_config logs;
  search_config search;
  pages_config pages;
  pipeline_settings pipeline;
  telegram_config telegram;
  admin_config admin;
  hub_config hub;
  std::uint64_t slot_files_max = 8ull << 30;  // the slot files' disk use, all nodes together (LRU)

  const node_config* find_node(std::string_view name) const;
  const worker_config* find_worker(std::string_view name) const;
};

struct load_options {
  // Check that model files and the llama-server executable exist. `status` and
  // `stop` turn this off: they must work while a model file is being replaced.
  bool check_files = true;
  // With check_files: a model reference that is not in the cache yet is not an error; its
  // path is left empty (node_config::model_refs says which). `start` and `reload` load this
  // way, pull what is missing, then load again strictly.
  bool allow_unpulled = false;
};

// The references of `cfg` whose path is empty (not pulled yet), each once.
std::vector<std::string> unpulled_refs(const config& cfg);
// Every reference of `cfg`, each once, in the order of the file.
std::vector<std::string> model_refs_of(const config& cfg);

// Reads, expands and validates one YAML file. Nothing is partially applied: either a
// complete, valid config or the first error found (with file, line, column and key).
config_result<config> load_config(const std::filesystem::path& file, load_options options = {});

// Parses "500ms", "10s", "5m", "1h" (also "1.5s"). Exposed for the CLI and tests.
std::optional<duration> parse_duration(std::string_view text);

// Expands a leading "~" or "~/" and $VAR / ${VAR}. An unset variable is an error
// (returned as nullopt plus the variable's name in *missing).
std::optional<std::string> expand_path_text(std::string_view text, std::string* missing = nullptr);

// The file the CLI uses when --config is absent: $OPENCLAWD_CONFIG, then
// $XDG_CONFIG_HOME/openclawd/openclawd.yaml (default ~/.config/...), then on macOS
// ~/Library/Application Support/openclawd/openclawd.yaml. Returns the candidates
// in order; the caller picks the first that exists.
std::vector<std::filesystem::path> default_config_candidates();

}  // namespace openclawd::core
