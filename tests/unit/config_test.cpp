// Unit tests for core/config: loading, defaults, expansion, and every error the
// loader reports, with its exact file position, key and wording. Each test writes
// its YAML into a fresh temporary folder and removes it afterwards.
#include "core/config.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using openclawd::core::config;
using openclawd::core::config_error;
using openclawd::core::load_config;
using openclawd::core::load_options;

namespace {

constexpr load_options no_file_checks{false};

// A fresh folder under the system's temp dir, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("openclawd-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
    path_ = fs::canonical(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const fs::path& path() const { return path_; }

  fs::path write(const fs::path& name, std::string_view text) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  // An empty model file: the loader checks existence, not contents.
  fs::path touch(const fs::path& name) const { return write(name, ""); }

  fs::path executable(const fs::path& name) const {
    const fs::path p = write(name, "#!/bin/sh\nexit 0\n");
    fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    return p;
  }

 private:
  fs::path path_;
};

// Sets (or unsets, with nullopt) an environment variable for one scope.
class scoped_env {
 public:
  scoped_env(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The smallest valid file. Line numbers in the tests below count from "nodes:" = 1.
constexpr std::string_view minimal_yaml =
    "nodes:\n"
    "  orchestrator:\n"
    "    model: orch.gguf\n"
    "    ctx: 32768\n"
    "    port: 8081\n"
    "  subagent:\n"
    "    model: sub.gguf\n"
    "    ctx: 8192\n"
    "    port: 8082\n";

config load_ok(const temp_dir& dir, std::string_view yaml, load_options options = no_file_checks) {
  const fs::path file = dir.write("openclawd.yaml", yaml);
  auto r = load_config(file, options);
  if (!r) FAIL("unexpected error: " << r.error().to_string());
  return *r;
}

config_error load_error(const temp_dir& dir, std::string_view yaml, load_options options = no_file_checks) {
  const fs::path file = dir.write("openclawd.yaml", yaml);
  auto r = load_config(file, options);
  if (r) FAIL("expected an error, but the file loaded");
  INFO(r.error().to_string());
  CHECK(r.error().file == dir.path() / "openclawd.yaml");
  return r.error();
}

// Replaces the first occurrence of `from` in the minimal file.
std::string minimal_with(std::string_view from, std::string_view to) {
  std::string s(minimal_yaml);
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  s.replace(at, from.size(), to);
  return s;
}

void check_error(const config_error& e, int line, int column, std::string_view key, std::string_view message) {
  INFO(e.to_string());
  CHECK(e.line == line);
  CHECK(e.column == column);
  CHECK(e.key == key);
  CHECK(e.message == message);
}

}  // namespace

// ---------------------------------------------------------------------------
// Loading valid files

TEST_CASE("config: the full example loads with every field right", "[config]") {
  temp_dir dir;
  scoped_env home("HOME", dir.path().string());
  scoped_env path("PATH", (dir.path() / "bin").string());
  const fs::path on_path = dir.executable("bin/llama-server");
  const fs::path other = dir.executable("opt/other/llama-server");
  dir.touch("models/orchestrator-26b-Q4_K_M.gguf");
  dir.touch("models/orchestrator-26b-Q4_0.gguf");
  dir.touch("models/concierge-4b-Q4_K_M.gguf");

  const config c = load_ok(dir, R"(
llama_server: llama-server
state_dir: ~/.local/state/openclawd
nodes:
  orchestrator:
    model: ~/models/orchestrator-26b-Q4_K_M.gguf
    fallbacks: [~/models/orchestrator-26b-Q4_0.gguf]
    ctx: 32768
    gpu_layers: 0
    port: 8081
    threads: 6
    parallel: 1
    extra_args: [--temp, 0.7, "--jinja"]
    startup_timeout: 600s
    stop_timeout: 10s
    llama_server: ~/opt/other/llama-server
  subagent:
    model: ~/models/concierge-4b-Q4_K_M.gguf
    ctx: 8192
    gpu_layers: 99
    port: 8082
restart:  { backoff_initial: 1s, backoff_max: 60s, stable_after: 60s, max_failures: 5 }
health:   { interval: 5s, timeout: 5s, failures: 3 }
logs:     { max_size: 10MiB, keep: 3 }
)",
                           load_options{true});

  CHECK(c.source == dir.path() / "openclawd.yaml");
  CHECK(c.state_dir == dir.path() / ".local/state/openclawd");
  REQUIRE(c.nodes.size() == 2);

  const auto& o = c.nodes[0];
  CHECK(o.name == "orchestrator");
  CHECK(o.llama_server == other);
  CHECK(o.model == dir.path() / "models/orchestrator-26b-Q4_K_M.gguf");
  REQUIRE(o.fallbacks.size() == 1);
  CHECK(o.fallbacks[0] == dir.path() / "models/orchestrator-26b-Q4_0.gguf");
  CHECK(o.ctx == 32768);
  CHECK(o.gpu_layers == 0);
  CHECK(o.port == 8081);
  CHECK(o.threads == 6);
  CHECK(o.parallel == 1);
  CHECK(o.extra_args == std::vector<std::string>{"--temp", "0.7", "--jinja"});
  CHECK(o.startup_timeout == 600s);
  CHECK(o.stop_timeout == 10s);
  CHECK(o.models() == std::vector<fs::path>{o.model, o.fallbacks[0]});

  const auto& s = c.nodes[1];
  CHECK(s.name == "subagent");
  CHECK(s.llama_server == on_path);
  CHECK(s.model == dir.path() / "models/concierge-4b-Q4_K_M.gguf");
  CHECK(s.fallbacks.empty());
  CHECK(s.ctx == 8192);
  CHECK(s.gpu_layers == 99);
  CHECK(s.port == 8082);
  CHECK_FALSE(s.threads);
  CHECK_FALSE(s.parallel);
  CHECK(s.models() == std::vector<fs::path>{s.model});

  CHECK(c.restart.backoff_initial == 1s);
  CHECK(c.restart.backoff_max == 60s);
  CHECK(c.restart.stable_after == 60s);
  CHECK(c.restart.max_failures == 5);
  CHECK(c.health.interval == 5s);
  CHECK(c.health.timeout == 5s);
  CHECK(c.health.failures == 3);
  CHECK(c.logs.max_bytes == 10u * 1024 * 1024);
  CHECK(c.logs.keep == 3);

  CHECK(c.find_node("orchestrator") == &c.nodes[0]);
  CHECK(c.find_node("subagent") == &c.nodes[1]);
  CHECK(c.find_node("gpu") == nullptr);
}

TEST_CASE("config: defaults fill every optional key", "[config]") {
  temp_dir dir;
  scoped_env home("HOME", "/home/someone");
  scoped_env xdg("XDG_STATE_HOME", std::nullopt);
  // The subagent comes first in the file; config::nodes is still orchestrator first.
  const config c = load_ok(dir,
                           "nodes:\n"
                           "  subagent: { model: sub.gguf, ctx: 8192, port: 8082 }\n"
                           "  orchestrator:\n"
                           "    model: orch.gguf\n"
                           "    ctx: 32768\n"
                           "    port: 8081\n"
                           "    threads:\n"          // an empty value means the default
                           "    extra_args: ~\n");
  CHECK(c.state_dir == "/home/someone/.local/state/openclawd");
  REQUIRE(c.nodes.size() == 2);
  CHECK(c.nodes[0].name == "orchestrator");
  CHECK(c.nodes[1].name == "subagent");
  for (const auto& n : c.nodes) {
    CHECK(n.llama_server == "llama-server");  // bare: no PATH lookup without check_files
    CHECK(n.fallbacks.empty());
    CHECK(n.gpu_layers == 0);
    CHECK_FALSE(n.threads);
    CHECK_FALSE(n.parallel);
    CHECK(n.extra_args.empty());
    CHECK(n.startup_timeout == 600s);
    CHECK(n.stop_timeout == 10s);
  }
  CHECK(c.restart.backoff_initial == 1s);
  CHECK(c.restart.backoff_max == 60s);
  CHECK(c.restart.stable_after == 60s);
  CHECK(c.restart.max_failures == 5);
  CHECK(c.health.interval == 5s);
  CHECK(c.health.timeout == 5s);
  CHECK(c.health.failures == 3);
  CHECK(c.logs.max_bytes == 10u * 1024 * 1024);
  CHECK(c.logs.keep == 3);
}

TEST_CASE("config: state_dir defaults under XDG_STATE_HOME when it is set", "[config]") {
  temp_dir dir;
  scoped_env xdg("XDG_STATE_HOME", "/var/tmp/xdg-state");
  CHECK(load_ok(dir, minimal_yaml).state_dir == "/var/tmp/xdg-state/openclawd");
}

TEST_CASE("config: the shipped example file loads", "[config]") {
  const fs::path example =
      fs::path(OPENCLAWD_TEST_FIXTURES).parent_path().parent_path() / "configs" / "openclawd.example.yaml";
  auto r = load_config(example, no_file_checks);
  if (!r) FAIL(r.error().to_string());
  const config& c = *r;
  const auto* o = c.find_node("orchestrator");
  const auto* s = c.find_node("subagent");
  REQUIRE(o != nullptr);
  REQUIRE(s != nullptr);
  CHECK(o->ctx == 32768);
  CHECK(o->gpu_layers == 0);
  CHECK(o->port == 8081);
  CHECK(o->fallbacks.size() == 1);
  CHECK(o->model.filename() == "orchestrator-26b-Q4_K_M.gguf");
  CHECK(s->ctx == 8192);
  CHECK(s->gpu_layers == 99);
  CHECK(s->port == 8082);
  CHECK(s->model.filename() == "concierge-4b-Q4_K_M.gguf");
}

// ---------------------------------------------------------------------------
// Paths

TEST_CASE("config: ~ and $VAR expand in every path", "[config]") {
  temp_dir dir;
  scoped_env home("HOME", "/home/u");
  scoped_env models("OPENCLAWD_TEST_MODELS", "/srv/models");
  scoped_env bin("OPENCLAWD_TEST_BIN", "/opt/llama/bin");
  const config c = load_ok(dir,
                           "llama_server: ${OPENCLAWD_TEST_BIN}/llama-server\n"
                           "state_dir: ~/state\n"
                           "nodes:\n"
                           "  orchestrator:\n"
                           "    model: $OPENCLAWD_TEST_MODELS/big.gguf\n"
                           "    fallbacks: [\"${OPENCLAWD_TEST_MODELS}/big-q4_0.gguf\", ~/small.gguf]\n"
                           "    ctx: 1\n"
                           "    port: 1\n"
                           "  subagent:\n"
                           "    model: ~/models/../models/sub.gguf\n"
                           "    ctx: 1\n"
                           "    port: 2\n"
                           "    llama_server: ~\n");  // YAML null: the top-level value applies
  CHECK(c.state_dir == "/home/u/state");
  CHECK(c.nodes[0].llama_server == "/opt/llama/bin/llama-server");
  CHECK(c.nodes[1].llama_server == "/opt/llama/bin/llama-server");
  CHECK(c.nodes[0].model == "/srv/models/big.gguf");
  CHECK(c.nodes[0].fallbacks == std::vector<fs::path>{"/srv/models/big-q4_0.gguf", "/home/u/small.gguf"});
  CHECK(c.nodes[1].model == "/home/u/models/sub.gguf");  // lexically normalized
}

TEST_CASE("config: expand_path_text", "[config]") {
  using openclawd::core::expand_path_text;
  scoped_env home("HOME", "/home/u");
  scoped_env a("OPENCLAWD_TEST_A", "alpha");
  scoped_env unset("OPENCLAWD_TEST_UNSET", std::nullopt);
  CHECK(expand_path_text("~") == "/home/u");
  CHECK(expand_path_text("~/x") == "/home/u/x");
  CHECK(expand_path_text("~x/y") == "~x/y");  // ~user is not expanded
  CHECK(expand_path_text("a/~/b") == "a/~/b");
  CHECK(expand_path_text("$OPENCLAWD_TEST_A/b") == "alpha/b");
  CHECK(expand_path_text("${OPENCLAWD_TEST_A}b") == "alphab");
  CHECK(expand_path_text("x$") == "x$");
  CHECK(expand_path_text("$5") == "$5");
  std::string missing;
  CHECK_FALSE(expand_path_text("/m/$OPENCLAWD_TEST_UNSET/x", &missing));
  CHECK(missing == "OPENCLAWD_TEST_UNSET");
  missing = "untouched";
  CHECK_FALSE(expand_path_text("${OPENCLAWD_TEST_A", &missing));
  CHECK(missing.empty());  // malformed, not unset
}

TEST_CASE("config: an unset variable is an error naming it", "[config]") {
  temp_dir dir;
  scoped_env unset("OPENCLAWD_TEST_UNSET", std::nullopt);
  check_error(load_error(dir, minimal_with("model: sub.gguf", "model: $OPENCLAWD_TEST_UNSET/sub.gguf")), 7, 12,
              "nodes.subagent.model",
              "environment variable OPENCLAWD_TEST_UNSET is not set (used in \"$OPENCLAWD_TEST_UNSET/sub.gguf\")");
  check_error(load_error(dir, minimal_with("model: sub.gguf", "model: ${HOME")), 7, 12, "nodes.subagent.model",
              "malformed variable in \"${HOME\"; write $NAME or ${NAME}");
}

TEST_CASE("config: relative paths resolve against the config file's folder", "[config]") {
  temp_dir dir;
  const fs::path file = dir.write("conf/openclawd.yaml",
                                  "llama_server: ../bin/llama-server\n"
                                  "state_dir: state\n"
                                  "nodes:\n"
                                  "  orchestrator: { model: ../models/o.gguf, ctx: 1, port: 1,\n"
                                  "                  fallbacks: [./f.gguf] }\n"
                                  "  subagent: { model: s.gguf, ctx: 1, port: 2, llama_server: ./ls }\n");
  // Load it through a relative name from another working directory.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  auto r = load_config("conf/../conf/openclawd.yaml", no_file_checks);
  fs::current_path(cwd);
  if (!r) FAIL(r.error().to_string());
  CHECK(r->source == file);
  CHECK(r->state_dir == dir.path() / "conf/state");
  CHECK(r->nodes[0].llama_server == dir.path() / "bin/llama-server");
  CHECK(r->nodes[0].model == dir.path() / "models/o.gguf");
  CHECK(r->nodes[0].fallbacks == std::vector<fs::path>{dir.path() / "conf/f.gguf"});
  CHECK(r->nodes[1].model == dir.path() / "conf/s.gguf");
  CHECK(r->nodes[1].llama_server == dir.path() / "conf/ls");
}

TEST_CASE("config: llama_server without a slash is looked up on PATH", "[config]") {
  temp_dir dir;
  dir.touch("orch.gguf");
  dir.touch("sub.gguf");
  dir.write("first/llama-server", "not executable");  // skipped: no x bit
  fs::create_directories(dir.path() / "empty");
  const fs::path real = dir.executable("second/llama-server");
  const std::string path_value =
      (dir.path() / "empty").string() + ":" + (dir.path() / "first").string() + ":" + (dir.path() / "second").string();

  SECTION("found: the first executable match") {
    scoped_env path("PATH", path_value);
    const config c = load_ok(dir, minimal_yaml, load_options{true});
    CHECK(c.nodes[0].llama_server == real);
    CHECK(c.nodes[1].llama_server == real);
  }
  SECTION("not found, with the key absent: a file-level error at llama_server") {
    scoped_env path("PATH", (dir.path() / "empty").string());
    const auto e = load_error(dir, minimal_yaml, load_options{true});
    check_error(e, 0, 0, "llama_server",
                "llama-server not found on PATH (" + (dir.path() / "empty").string() +
                    "); set llama_server: to its full path");
  }
  SECTION("not found, with the key written: the error points at it") {
    scoped_env path("PATH", (dir.path() / "empty").string());
    const auto e = load_error(dir, "llama_server: llama-server-cuda\n" + std::string(minimal_yaml), load_options{true});
    check_error(e, 1, 15, "llama_server",
                "llama-server-cuda not found on PATH (" + (dir.path() / "empty").string() +
                    "); set llama_server: to its full path");
  }
  SECTION("without check_files the bare name is kept") {
    scoped_env path("PATH", (dir.path() / "empty").string());
    CHECK(load_ok(dir, minimal_yaml).nodes[0].llama_server == "llama-server");
  }
  SECTION("the top-level value is not looked up when both nodes override it") {
    scoped_env path("PATH", (dir.path() / "empty").string());
    const config c = load_ok(dir,
                             minimal_with("    port: 8081\n", "    port: 8081\n    llama_server: second/llama-server\n") +
                                 "    llama_server: " + real.string() + "\n",
                             load_options{true});
    CHECK(c.nodes[0].llama_server == real);
    CHECK(c.nodes[1].llama_server == real);
  }
}

// ---------------------------------------------------------------------------
// File checks

TEST_CASE("config: missing model files and a bad llama-server are caught", "[config]") {
  temp_dir dir;
  const fs::path server = dir.executable("llama-server");
  const std::string with_server = "llama_server: ./llama-server\n" + std::string(minimal_yaml);
  dir.touch("orch.gguf");

  SECTION("model") {
    check_error(load_error(dir, with_server, load_options{true}), 8, 12, "nodes.subagent.model",
                "model file not found: " + (dir.path() / "sub.gguf").string());
  }
  SECTION("a fallback") {
    dir.touch("sub.gguf");
    const std::string yaml = "llama_server: ./llama-server\n" +
                             minimal_with("    ctx: 32768\n", "    fallbacks: [orch.gguf, models/q4_0.gguf]\n    ctx: 32768\n");
    check_error(load_error(dir, yaml, load_options{true}), 5, 28, "nodes.orchestrator.fallbacks[1]",
                "model file not found: " + (dir.path() / "models/q4_0.gguf").string());
  }
  SECTION("a folder where the model should be") {
    fs::create_directories(dir.path() / "sub.gguf");
    check_error(load_error(dir, with_server, load_options{true}), 8, 12, "nodes.subagent.model",
                "model path is not a regular file: " + (dir.path() / "sub.gguf").string());
  }
  SECTION("llama-server missing") {
    dir.touch("sub.gguf");
    check_error(load_error(dir, "llama_server: ./nope/llama-server\n" + std::string(minimal_yaml), load_options{true}),
                1, 15, "llama_server", "llama-server not found: " + (dir.path() / "nope/llama-server").string());
  }
  SECTION("llama-server not executable") {
    dir.touch("sub.gguf");
    fs::permissions(server, fs::perms::owner_read | fs::perms::owner_write);
    check_error(load_error(dir, with_server, load_options{true}), 1, 15, "llama_server",
                "llama-server is not executable: " + server.string() + " (check its permissions)");
  }
  SECTION("check_files=false skips every file check") {
    const config c = load_ok(dir, "llama_server: ./nope/llama-server\n" + std::string(minimal_yaml), no_file_checks);
    CHECK(c.nodes[1].model == dir.path() / "sub.gguf");
    CHECK(c.nodes[0].llama_server == dir.path() / "nope/llama-server");
  }
}

// ---------------------------------------------------------------------------
// Errors, each with its position, key and wording

TEST_CASE("config: unknown key suggests the nearest", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctxx: 8192")), 8, 5, "nodes.subagent.ctxx",
              "unknown key \"ctxx\"; did you mean \"ctx\"?");
  check_error(load_error(dir, minimal_with("port: 8081", "Port: 8081")), 5, 5, "nodes.orchestrator.Port",
              "unknown key \"Port\"; did you mean \"port\"?");
  check_error(load_error(dir, minimal_with("ctx: 8192", "gpu-layers: 1\n    ctx: 8192")), 8, 5,
              "nodes.subagent.gpu-layers", "unknown key \"gpu-layers\"; did you mean \"gpu_layers\"?");
  check_error(load_error(dir, minimal_with("ctx: 8192", "ngl: 99\n    ctx: 8192")), 8, 5, "nodes.subagent.ngl",
              "unknown key \"ngl\"; did you mean \"gpu_layers\"?");
  check_error(load_error(dir, minimal_with("orchestrator:", "orchestrater:")), 2, 3, "nodes.orchestrater",
              "unknown key \"orchestrater\"; did you mean \"orchestrator\"?");
  check_error(load_error(dir, "restart:\n  backof_max: 10s\n" + std::string(minimal_yaml)), 2, 3,
              "restart.backof_max", "unknown key \"backof_max\"; did you mean \"backoff_max\"?");
}

TEST_CASE("config: an unknown key far from any lists the valid keys", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, "whatsapp: {}\n" + std::string(minimal_yaml)), 1, 1, "whatsapp",
              "unknown key \"whatsapp\"; expected one of: llama_server, rpc_server, workers, state_dir, nodes, restart, "
              "health, logs, search, pages, pipeline, telegram, admin, slot_files_max, hub");
  check_error(load_error(dir, minimal_with("ctx: 8192", "temperature: 0.7\n    ctx: 8192")), 8, 5,
              "nodes.subagent.temperature",
              "unknown key \"temperature\"; expected one of: model, fallbacks, ctx, gpu_layers, port, threads, "
              "parallel, extra_args, cache_ram, slot_files, startup_timeout, stop_timeout, llama_server, rpc, url");
  check_error(load_error(dir, minimal_with("  subagent:", "  gpu:\n    model: x\n  subagent:")), 6, 3, "nodes.gpu",
              "unknown key \"gpu\"; expected one of: orchestrator, subagent");
}

TEST_CASE("config: a key at the wrong depth says where it belongs", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, "restart:\n  interval: 5s\n" + std::string(minimal_yaml)), 2, 3, "restart.interval",
              "unknown key \"interval\" here; it belongs under health (check the indentation)");
  check_error(load_error(dir, "nodes:\n  model: x.gguf\n"), 2, 3, "nodes.model",
              "unknown key \"model\" here; it belongs under nodes.orchestrator or nodes.subagent "
              "(check the indentation)");
  check_error(load_error(dir, minimal_with("    port: 8082\n", "    port: 8082\n    state_dir: /x\n")), 10, 5,
              "nodes.subagent.state_dir",
              "unknown key \"state_dir\" here; it belongs at the top level (check the indentation)");
}

TEST_CASE("config: wrong types and out-of-range values", "[config]") {
  temp_dir dir;
  struct row {
    std::string_view from, to;
    int line, column;
    std::string_view key, message;
  };
  const row rows[] = {
      {"ctx: 8192", "ctx: [1, 2]", 8, 10, "nodes.subagent.ctx", "expected a positive integer, found a list"},
      {"ctx: 8192", "ctx: {a: 1}", 8, 10, "nodes.subagent.ctx", "expected a positive integer, found a mapping"},
      {"ctx: 8192", "ctx: abc", 8, 10, "nodes.subagent.ctx", "expected a positive integer, found \"abc\""},
      {"ctx: 8192", "ctx: 1.5", 8, 10, "nodes.subagent.ctx", "expected a positive integer, found \"1.5\""},
      {"ctx: 8192", "ctx: 0", 8, 10, "nodes.subagent.ctx", "expected a positive integer, found \"0\""},
      {"ctx: 32768", "ctx: -1", 4, 10, "nodes.orchestrator.ctx", "expected a positive integer, found \"-1\""},
      {"ctx: 8192", "ctx:", 8, 5, "nodes.subagent.ctx", "expected a positive integer, found an empty value"},
      {"ctx: 8192", "ctx: 99999999999", 8, 10, "nodes.subagent.ctx",
       "expected a positive integer, found \"99999999999\""},
      {"port: 8082", "port: 70000", 9, 11, "nodes.subagent.port",
       "expected a port number from 1 to 65535, found \"70000\""},
      {"port: 8082", "port: 0", 9, 11, "nodes.subagent.port", "expected a port number from 1 to 65535, found \"0\""},
      {"ctx: 8192", "ctx: 8192\n    gpu_layers: -1", 9, 17, "nodes.subagent.gpu_layers",
       "expected an integer >= 0, found \"-1\""},
      {"ctx: 8192", "ctx: 8192\n    threads: 0", 9, 14, "nodes.subagent.threads",
       "expected a positive integer, found \"0\""},
      {"ctx: 8192", "ctx: 8192\n    parallel: two", 9, 15, "nodes.subagent.parallel",
       "expected a positive integer, found \"two\""},
      {"model: sub.gguf", "model: [a.gguf]", 7, 12, "nodes.subagent.model", "expected a path, found a list"},
      {"model: sub.gguf", "model: \"\"", 7, 12, "nodes.subagent.model", "expected a path, found \"\""},
      {"model: sub.gguf", "model:", 7, 5, "nodes.subagent.model", "expected a path, found an empty value"},
      {"ctx: 8192", "ctx: 8192\n    fallbacks: a.gguf", 9, 16, "nodes.subagent.fallbacks",
       "expected a list of paths or hf: references, such as [~/models/a.gguf], found \"a.gguf\""},
      {"ctx: 8192", "ctx: 8192\n    extra_args: --jinja", 9, 17, "nodes.subagent.extra_args",
       "expected a list of strings, such as [\"--flag\", \"value\"], found \"--jinja\""},
      {"ctx: 8192", "ctx: 8192\n    extra_args: [--jinja, [x]]", 9, 27, "nodes.subagent.extra_args[1]",
       "expected a string, found a list"},
      {"  subagent:\n    model: sub.gguf\n    ctx: 8192\n    port: 8082\n", "  subagent: [model]\n", 6, 13,
       "nodes.subagent", "expected a mapping (indented key: value lines), found a list"},
  };
  for (const auto& r : rows) {
    SECTION(std::string(r.to)) {
      check_error(load_error(dir, minimal_with(r.from, r.to)), r.line, r.column, r.key, r.message);
    }
  }
  SECTION("nodes as a list") {
    check_error(load_error(dir, "nodes:\n  - orchestrator\n"), 2, 3, "nodes",
                "expected a mapping (indented key: value lines), found a list");
  }
}

TEST_CASE("config: extra_args may not repeat flags openclawd sets", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    extra_args: [--jinja, --port=9000]")), 9, 27,
              "nodes.subagent.extra_args[1]",
              "\"--port\" is passed by openclawd from the port: key; set that instead and remove it from extra_args");
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    extra_args: [-c, \"4096\"]")), 9, 18,
              "nodes.subagent.extra_args[0]",
              "\"-c\" is passed by openclawd from the ctx: key; set that instead and remove it from extra_args");
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    extra_args:\n      - --host\n      - 0.0.0.0")),
              10, 9, "nodes.subagent.extra_args[0]",
              "\"--host\" is not allowed: openclawd always binds llama-server to 127.0.0.1");
}

TEST_CASE("config: extra_args in --flag=value form are refused, since llama-server exits on them", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    extra_args: [--jinja, --api-key=s3cret]")),
              9, 27, "nodes.subagent.extra_args[1]",
              "llama-server does not accept --api-key=… in one item; write the flag and its value as two items: "
              "[\"--api-key\", \"…\"]");
  // The value (here a secret) is never repeated in the error.
  CHECK(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    extra_args: [--api-key=s3cret]"))
            .to_string()
            .find("s3cret") == std::string::npos);
  // A value that merely contains '=' is fine, and so is the two-item form.
  CHECK(load_ok(dir, minimal_with("ctx: 8192", "ctx: 8192\n    extra_args: [--api-key, \"a=b\"]"))
            .nodes[1]
            .extra_args.size() == 2);
}

TEST_CASE("config: the same port used twice", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, minimal_with("port: 8082", "port: 8081")), 9, 11, "nodes.subagent.port",
              "port 8081 is already used by nodes.orchestrator.port (line 5)");
  // The error is at whichever node comes later in the file.
  check_error(load_error(dir,
                         "nodes:\n"
                         "  subagent: { model: s.gguf, ctx: 1, port: 9000 }\n"
                         "  orchestrator: { model: o.gguf, ctx: 1, port: 9000 }\n"),
              3, 48, "nodes.orchestrator.port", "port 9000 is already used by nodes.subagent.port (line 2)");
}

TEST_CASE("config: duplicate keys", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    ctx: 4096")), 9, 5, "nodes.subagent.ctx",
              "duplicate key \"ctx\" (first set at line 8)");
  check_error(load_error(dir, std::string(minimal_yaml) + "  orchestrator: {}\n"), 10, 3, "nodes.orchestrator",
              "duplicate key \"orchestrator\" (first set at line 2)");
}

TEST_CASE("config: a missing required key is reported at its mapping", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, minimal_with("    port: 8082\n", "")), 6, 3, "nodes.subagent",
              "missing required key \"port\"");
  check_error(load_error(dir, minimal_with("    model: orch.gguf\n", "")), 2, 3, "nodes.orchestrator",
              "missing required key \"model\"");
  check_error(load_error(dir, "nodes:\n  orchestrator: { model: o.gguf, ctx: 1, port: 1 }\n"), 1, 1, "nodes",
              "missing required key \"subagent\"");
  check_error(load_error(dir, "nodes:\n  orchestrator: { model: o.gguf, ctx: 1, port: 1 }\n  subagent:\n"), 3, 3,
              "nodes.subagent", "missing required key \"model\"");
  check_error(load_error(dir, "state_dir: /tmp/x\n"), 1, 1, "", "missing required key \"nodes\"");
}

TEST_CASE("config: durations", "[config]") {
  using openclawd::core::parse_duration;
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("1.5s") == 1500ms);
  CHECK(parse_duration("0.25m") == 15s);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration(" 2s ") == 2s);
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("0"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("10 s"));
  CHECK_FALSE(parse_duration("10sec"));
  CHECK_FALSE(parse_duration("1d"));
  CHECK_FALSE(parse_duration("1..5s"));
  CHECK_FALSE(parse_duration("99999999999999h"));

  temp_dir dir;
  const std::string with_restart = "restart:\n  backoff_initial: 2s\n  backoff_max: 1s\n" + std::string(minimal_yaml);
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    stop_timeout: 10")), 9, 19,
              "nodes.subagent.stop_timeout",
              "expected a duration with a unit such as 500ms, 10s, 5m; found \"10\"");
  check_error(load_error(dir, minimal_with("ctx: 8192", "ctx: 8192\n    startup_timeout: 50ms")), 9, 22,
              "nodes.subagent.startup_timeout", "expected a duration of at least 100ms, found \"50ms\"");
  check_error(load_error(dir, "health: { interval: 10ms }\n" + std::string(minimal_yaml)), 1, 21, "health.interval",
              "expected a duration of at least 50ms, found \"10ms\"");
  check_error(load_error(dir, "health: { timeout: [1s] }\n" + std::string(minimal_yaml)), 1, 20, "health.timeout",
              "expected a duration with a unit such as 500ms, 10s, 5m, found a list");
  check_error(load_error(dir, with_restart), 3, 16, "restart.backoff_max",
              "expected a duration of at least restart.backoff_initial (2s), found \"1s\"");
  check_error(load_error(dir, "restart:\n  backoff_initial: 2m\n" + std::string(minimal_yaml)), 2, 20,
              "restart.backoff_initial",
              "expected at most restart.backoff_max (1m, the default), found \"2m\"; raise backoff_max too");
  const config c = load_ok(dir, "restart: { backoff_initial: 100ms, stable_after: 0s }\n"
                                "health: { interval: 250ms, timeout: 1.5s }\n" + std::string(minimal_yaml));
  CHECK(c.restart.backoff_initial == 100ms);
  CHECK(c.restart.stable_after == 0ms);
  CHECK(c.health.interval == 250ms);
  CHECK(c.health.timeout == 1500ms);
}

TEST_CASE("config: log sizes", "[config]") {
  temp_dir dir;
  const auto size_of = [&](std::string_view text) {
    return load_ok(dir, "logs:\n  max_size: " + std::string(text) + "\n" + std::string(minimal_yaml)).logs.max_bytes;
  };
  CHECK(size_of("10MiB") == 10u * 1024 * 1024);
  CHECK(size_of("512KiB") == 512u * 1024);
  CHECK(size_of("1GiB") == 1024u * 1024 * 1024);
  CHECK(size_of("10MB") == 10'000'000u);
  CHECK(size_of("100kb") == 100'000u);
  CHECK(size_of("1.5MiB") == 1536u * 1024);
  CHECK(size_of("1048576") == 1048576u);
  CHECK(size_of("65536B") == 65536u);

  const auto size_error = [&](std::string_view text) {
    return load_error(dir, "logs:\n  max_size: " + std::string(text) + "\n" + std::string(minimal_yaml));
  };
  check_error(size_error("ten"), 2, 13, "logs.max_size",
              "expected a size such as 10MiB, 512KiB, 1GiB or a number of bytes; found \"ten\"");
  check_error(size_error("10 furlongs"), 2, 13, "logs.max_size",
              "expected a size such as 10MiB, 512KiB, 1GiB or a number of bytes; found \"10 furlongs\"");
  check_error(size_error("1.5"), 2, 13, "logs.max_size",
              "expected a size such as 10MiB, 512KiB, 1GiB or a number of bytes; found \"1.5\"");
  check_error(size_error("1KiB"), 2, 13, "logs.max_size", "expected a size of at least 64KiB, found \"1KiB\"");
  check_error(load_error(dir, "logs: { keep: -1 }\n" + std::string(minimal_yaml)), 1, 15, "logs.keep",
              "expected an integer >= 0, found \"-1\"");
  CHECK(load_ok(dir, "logs: { keep: 0 }\n" + std::string(minimal_yaml)).logs.keep == 0);
}

TEST_CASE("config: counts must be at least 1", "[config]") {
  temp_dir dir;
  check_error(load_error(dir, "restart: { max_failures: 0 }\n" + std::string(minimal_yaml)), 1, 26,
              "restart.max_failures", "expected a positive integer, found \"0\"");
  check_error(load_error(dir, "health: { failures: 0 }\n" + std::string(minimal_yaml)), 1, 21, "health.failures",
              "expected a positive integer, found \"0\"");
}

TEST_CASE("config: unreadable, empty and malformed files", "[config]") {
  temp_dir dir;
  SECTION("missing file: line 0") {
    auto r = load_config(dir.path() / "nope.yaml");
    REQUIRE_FALSE(r.has_value());
    check_error(r.error(), 0, 0, "", "config file not found");
    CHECK(r.error().to_string() == (dir.path() / "nope.yaml").string() + ": config file not found");
  }
  SECTION("a folder") {
    auto r = load_config(dir.path());
    REQUIRE_FALSE(r.has_value());
    check_error(r.error(), 0, 0, "", "this is a folder, not a config file");
  }
  SECTION("unreadable") {
    if (::geteuid() == 0) {
      WARN("skipped: root can read any file");
      return;
    }
    const fs::path file = dir.write("openclawd.yaml", minimal_yaml);
    fs::permissions(file, fs::perms::none);
    auto r = load_config(file);
    REQUIRE_FALSE(r.has_value());
    check_error(r.error(), 0, 0, "", "cannot read the config file: Permission denied");
  }
  SECTION("empty") {
    check_error(load_error(dir, ""), 0, 0, "",
                "the file is empty; expected at least a nodes: section (see configs/openclawd.example.yaml)");
    check_error(load_error(dir, "# only a comment\n"), 0, 0, "",
                "the file is empty; expected at least a nodes: section (see configs/openclawd.example.yaml)");
  }
  SECTION("a list at the top") {
    check_error(load_error(dir, "- nodes\n"), 1, 1, "",
                "expected a mapping at the top level (llama_server:, state_dir:, nodes:, ...), found a list");
  }
  SECTION("a scalar at the top") {
    check_error(load_error(dir, "hello\n"), 1, 1, "",
                "expected a mapping at the top level (llama_server:, state_dir:, nodes:, ...), found \"hello\"");
  }
  SECTION("YAML syntax error") {
    check_error(load_error(dir, "nodes:\n  orchestrator: { model: o.gguf, ctx: 1\n"), 3, 1, "",
                "invalid YAML: end of map flow not found");
    check_error(load_error(dir, "nodes:\n  orchestrator:\n    model: o\n   ctx: 1\n"), 4, 4, "",
                "invalid YAML: end of map not found");
  }
  SECTION("two documents") {
    check_error(load_error(dir, std::string(minimal_yaml) + "---\nnodes: {}\n"), 11, 1, "",
                "expected one YAML document, found a second one after \"---\"");
    CHECK(load_ok(dir, std::string(minimal_yaml) + "---\n").nodes.size() == 2);
  }
  // Found by fuzz/fuzz_config (corpus/config/regression_stray_comma_*.yaml): yaml-cpp 0.7's
  // LoadAll() never returned on these, allocating until the machine ran out of memory.
  SECTION("a stray comma after a flow mapping is an error, not a hang") {
    check_error(load_error(dir, "{nodes: {}}\n,\n"), 2, 1, "", "invalid YAML: unexpected \",\"");
    check_error(load_error(dir, "\n,\n"), 2, 1, "", "invalid YAML: unexpected \",\"");
    check_error(load_error(dir, "!!map ,"), 1, 7, "", "invalid YAML: unexpected \",\"");
  }
}

TEST_CASE("config: error text and exceptions", "[config]") {
  config_error e{"/etc/openclawd.yaml", 12, 5, "nodes.orchestrator.ctx", "expected a positive integer, found \"-1\""};
  CHECK(e.to_string() == "/etc/openclawd.yaml:12:5: nodes.orchestrator.ctx: expected a positive integer, found \"-1\"");
  e.key.clear();
  CHECK(e.to_string() == "/etc/openclawd.yaml:12:5: expected a positive integer, found \"-1\"");
  e.line = 0;
  e.column = 0;
  e.key = "llama_server";
  CHECK(e.to_string() == "/etc/openclawd.yaml: llama_server: expected a positive integer, found \"-1\"");

  temp_dir dir;
  const fs::path file = dir.write("openclawd.yaml", minimal_with("ctx: 8192", "ctx: -3"));
  try {
    (void)load_config(file, no_file_checks).value();
    FAIL("value() did not throw");
  } catch (const std::runtime_error& ex) {
    CHECK(std::string(ex.what()) ==
          file.string() + ":8:10: nodes.subagent.ctx: expected a positive integer, found \"-3\"");
  }
}

TEST_CASE("config: default file candidates", "[config]") {
  using openclawd::core::default_config_candidates;
  scoped_env home("HOME", "/home/u");
  SECTION("OPENCLAWD_CONFIG first, then XDG_CONFIG_HOME") {
    scoped_env explicit_file("OPENCLAWD_CONFIG", "/etc/openclawd.yaml");
    scoped_env xdg("XDG_CONFIG_HOME", "/cfg");
    const auto c = default_config_candidates();
    REQUIRE(c.size() >= 2);
    CHECK(c[0] == "/etc/openclawd.yaml");
    CHECK(c[1] == "/cfg/openclawd/openclawd.yaml");
  }
  SECTION("~/.config without XDG_CONFIG_HOME") {
    scoped_env explicit_file("OPENCLAWD_CONFIG", std::nullopt);
    scoped_env xdg("XDG_CONFIG_HOME", std::nullopt);
    const auto c = default_config_candidates();
    REQUIRE(!c.empty());
    CHECK(c[0] == "/home/u/.config/openclawd/openclawd.yaml");
#ifdef __APPLE__
    REQUIRE(c.size() == 2);
    CHECK(c[1] == "/home/u/Library/Application Support/openclawd/openclawd.yaml");
#else
    CHECK(c.size() == 1);
#endif
  }
}

// ---------------------------------------------------------------------------
// search: (the DuckDuckGo tool, docs/search.md)

TEST_CASE("config: search defaults when the section is absent", "[config][search]") {
  temp_dir dir;
  const auto s = load_ok(dir, minimal_yaml).search;
  CHECK(s.enabled);
  CHECK(s.endpoint == "https://html.duckduckgo.com/html/");
  CHECK(s.region == "wt-wt");
  CHECK(s.time_limit.empty());
  CHECK(s.max_results == 5);
  CHECK(s.connect_timeout == 10s);
  CHECK(s.read_timeout == 10s);
  CHECK(s.min_interval == 2s);
  CHECK(s.max_wait == 10s);
  CHECK(s.cache_ttl == 10min);
  CHECK(s.cache_entries == 256);
  CHECK(s.backoff_initial == 1min);
  CHECK(s.backoff_max == 1h);
  CHECK(s.user_agent == openclawd::core::default_search_user_agent);
  CHECK(s.max_query_length == 400);
  CHECK(s.max_page_size == 2u * 1024 * 1024);
  CHECK(s.max_output_chars == 4000);
}

TEST_CASE("config: every search key", "[config][search]") {
  temp_dir dir;
  const auto s = load_ok(dir, R"yaml(search:
  enabled: false
  endpoint: http://127.0.0.1:8099/html/
  region: de-de
  time_limit: week
  max_results: 8
  connect_timeout: 3s
  read_timeout: 4s
  min_interval: 1500ms
  max_wait: 20s
  cache_ttl: 0s
  cache_entries: 0
  backoff_initial: 2m
  backoff_max: 30m
  user_agent: "Mozilla/5.0 (test)"
  max_query_length: 200
  max_page_size: 512KiB
  max_output_chars: 2500
)yaml" + std::string(minimal_yaml)).search;
  CHECK_FALSE(s.enabled);
  CHECK(s.endpoint == "http://127.0.0.1:8099/html/");
  CHECK(s.region == "de-de");
  CHECK(s.time_limit == "w");
  CHECK(s.max_results == 8);
  CHECK(s.connect_timeout == 3s);
  CHECK(s.read_timeout == 4s);
  CHECK(s.min_interval == 1500ms);
  CHECK(s.max_wait == 20s);
  CHECK(s.cache_ttl == 0s);
  CHECK(s.cache_entries == 0);
  CHECK(s.backoff_initial == 2min);
  CHECK(s.backoff_max == 30min);
  CHECK(s.user_agent == "Mozilla/5.0 (test)");
  CHECK(s.max_query_length == 200);
  CHECK(s.max_page_size == 512u * 1024);
  CHECK(s.max_output_chars == 2500);
  for (const char* ok : {"https://search.example.org/html/", "http://localhost:8080/", "http://[::1]:9/x",
                         "HTTPS://HTML.DUCKDUCKGO.COM/html/"}) {
    INFO(ok);
    CHECK(load_ok(dir, "search: { endpoint: \"" + std::string(ok) + "\" }\n" + std::string(minimal_yaml)).search.endpoint ==
          ok);
  }
  CHECK(load_ok(dir, "search: { time_limit: Any }\n" + std::string(minimal_yaml)).search.time_limit.empty());
}

TEST_CASE("config: search mistakes name the key and what is expected", "[config][search]") {
  temp_dir dir;
  const auto with = [](std::string_view lines) { return "search:\n" + std::string(lines) + std::string(minimal_yaml); };
  const std::string_view endpoint_rule =
      "expected an https:// URL (http:// only for 127.0.0.1, localhost or [::1])";
  check_error(load_error(dir, with("  endpoint: http://example.com/html/\n")), 2, 13, "search.endpoint",
              std::string(endpoint_rule) + ", found \"http://example.com/html/\"");
  check_error(load_error(dir, with("  endpoint: ftp://x/\n")), 2, 13, "search.endpoint",
              std::string(endpoint_rule) + ", found \"ftp://x/\"");
  check_error(load_error(dir, with("  endpoint: http://127.0.0.1.evil.com/\n")), 2, 13, "search.endpoint",
              std::string(endpoint_rule) + ", found \"http://127.0.0.1.evil.com/\"");
  check_error(load_error(dir, with("  endpoint: http://localhost.evil.com/\n")), 2, 13, "search.endpoint",
              std::string(endpoint_rule) + ", found \"http://localhost.evil.com/\"");
  check_error(load_error(dir, with("  region: USA\n")), 2, 11, "search.region",
              "expected a DuckDuckGo region code such as wt-wt (no region), us-en or de-de, found \"USA\"");
  check_error(load_error(dir, with("  time_limit: fortnight\n")), 2, 15, "search.time_limit",
              "expected one of any, day, week, month, year, found \"fortnight\"");
  check_error(load_error(dir, with("  max_results: 0\n")), 2, 16, "search.max_results",
              "expected an integer from 1 to 20, found \"0\"");
  check_error(load_error(dir, with("  max_results: 21\n")), 2, 16, "search.max_results",
              "expected an integer from 1 to 20, found \"21\"");
  check_error(load_error(dir, with("  max_query_length: 500\n")), 2, 21, "search.max_query_length",
              "expected an integer from 1 to 499 (DuckDuckGo refuses longer queries), found \"500\"");
  check_error(load_error(dir, with("  enabled: yes\n")), 2, 12, "search.enabled", "expected true or false, found \"yes\"");
  check_error(load_error(dir, with("  backoff_initial: 100ms\n")), 2, 20, "search.backoff_initial",
              "expected a duration of at least 1s, found \"100ms\"");
  check_error(load_error(dir, with("  backoff_initial: 10m\n  backoff_max: 5m\n")), 3, 16, "search.backoff_max",
              "expected a duration of at least search.backoff_initial (10m), found \"5m\"");
  check_error(load_error(dir, with("  backoff_initial: 2h\n")), 2, 20, "search.backoff_initial",
              "expected at most search.backoff_max (1h, the default), found \"2h\"; raise backoff_max too");
  check_error(load_error(dir, with("  max_page_size: 1KiB\n")), 2, 18, "search.max_page_size",
              "expected a size of at least 16KiB, found \"1KiB\"");
  check_error(load_error(dir, with("  user_agent: \"\"\n")), 2, 15, "search.user_agent",
              "expected a User-Agent string of 1 to 512 characters, found \"\"");
  check_error(load_error(dir, with("  max_result: 3\n")), 2, 3, "search.max_result",
              "unknown key \"max_result\"; did you mean \"max_results\"?");
  check_error(load_error(dir, with("  kl: us-en\n")), 2, 3, "search.kl", "unknown key \"kl\"; did you mean \"region\"?");
  check_error(load_error(dir, with("  interval: 5s\n")), 2, 3, "search.interval",
              "unknown key \"interval\"; did you mean \"min_interval\"?");
  check_error(load_error(dir, "search: [x]\n" + std::string(minimal_yaml)), 1, 9, "search",
              "expected a mapping (indented key: value lines), found a list");
}

// pipeline: (the agent, docs/pipeline.md)

TEST_CASE("config: the pipeline section sets prompts, limits, patterns and strikes", "[config][pipeline]") {
  temp_dir dir;
  const auto defaults = load_ok(dir, std::string(minimal_yaml)).pipeline;
  CHECK(defaults.degenerate_patterns == std::vector<std::string>{"<unused\\d+>"});
  CHECK(defaults.strikes == 1);
  CHECK(defaults.compact_at_percent == 85);
  const auto p = load_ok(dir, R"yaml(pipeline:
  orchestrator_prompt: "Decide."
  answer_max_tokens: 512
  compact_at_percent: 80
  compact_to_percent: 40
  degenerate_patterns: ["<unused\\d+>", "<pad>"]
  banned_tokens: [309, 310]
  strikes: 2
  not_ready_wait: 30s
)yaml" + std::string(minimal_yaml)).pipeline;
  CHECK(p.orchestrator_prompt == "Decide.");
  CHECK(p.answer_max_tokens == 512);
  CHECK(p.compact_at_percent == 80);
  CHECK(p.compact_to_percent == 40);
  CHECK(p.degenerate_patterns == std::vector<std::string>{"<unused\\d+>", "<pad>"});
  CHECK(p.banned_tokens == std::vector<int>{309, 310});
  CHECK(p.strikes == 2);
  CHECK(p.not_ready_wait == std::chrono::seconds(30));
}

TEST_CASE("config: pipeline mistakes name the key and what is expected", "[config][pipeline]") {
  temp_dir dir;
  const auto with = [](std::string_view lines) { return "pipeline:\n" + std::string(lines) + std::string(minimal_yaml); };
  check_error(load_error(dir, with("  compact_at_percent: 100\n")), 2, 23, "pipeline.compact_at_percent",
              "expected a percentage from 1 to 99, found \"100\"");
  const auto order = load_error(dir, with("  compact_at_percent: 50\n  compact_to_percent: 60\n"));
  CHECK(order.key == "pipeline.compact_to_percent");
  CHECK_THAT(order.message, Catch::Contains("expected less than compact_at_percent (50)"));
  const auto regex = load_error(dir, with("  degenerate_patterns: [\"(unclosed\"]\n"));
  CHECK(regex.key == "pipeline.degenerate_patterns[0]");
  CHECK_THAT(regex.message, Catch::StartsWith("expected a regular expression"));
  check_error(load_error(dir, with("  banned_tokens: [abc]\n")), 2, 19, "pipeline.banned_tokens[0]",
              "expected a token id (an integer >= 0), found \"abc\"");
  check_error(load_error(dir, with("  strikes: 0\n")), 2, 12, "pipeline.strikes",
              "expected a positive integer, found \"0\"");
  const auto typo = load_error(dir, with("  strike: 2\n"));
  CHECK_THAT(typo.message, Catch::Contains("did you mean \"strikes\""));
}

TEST_CASE("config: a decision has no brief by default and a 24-token cap", "[config][pipeline]") {
  temp_dir dir;
  const auto defaults = load_ok(dir, std::string(minimal_yaml)).pipeline;
  CHECK(defaults.decision_max_tokens == 0);   // the pipeline makes it 24
  CHECK(defaults.decision_brief_chars == 0);  // off
  const auto p = load_ok(dir, "pipeline:\n  decision_brief_chars: 90\n  decision_max_tokens: 40\n" +
                                  std::string(minimal_yaml)).pipeline;
  CHECK(p.decision_brief_chars == 90);
  CHECK(p.decision_max_tokens == 40);
  // The decision grammar spells the brief's bound out, one rule a character: a few lines at most.
  check_error(load_error(dir, "pipeline:\n  decision_brief_chars: 5000\n" + std::string(minimal_yaml)), 2, 25,
              "pipeline.decision_brief_chars", "expected an integer from 0 to 1000, found \"5000\"");
}

TEST_CASE("config: the host prompt cache and slot files per node, their defaults and their keys", "[config]") {
  temp_dir dir;
  const auto c = load_ok(dir, std::string(minimal_yaml));
  const auto& orch = *c.find_node("orchestrator");
  const auto& sub = *c.find_node("subagent");
  // llama-server's own default is 8 GiB per server: too much for two models on a 40 GB machine.
  CHECK(orch.cache_ram == 2ull << 30);
  CHECK(sub.cache_ram == 512ull << 20);
  CHECK(orch.slot_files);
  CHECK(orch.slot_dir == c.state_dir / "kv" / "orchestrator");
  CHECK_FALSE(sub.slot_files);
  CHECK(c.slot_files_max == 8ull << 30);

  std::string yaml(minimal_yaml);
  yaml.replace(yaml.find("    ctx: 32768"), 0, "    cache_ram: 0\n    slot_files: false\n");
  const auto off = load_ok(dir, "slot_files_max: 20GiB\n" + yaml);
  CHECK(off.find_node("orchestrator")->cache_ram == 0);
  CHECK_FALSE(off.find_node("orchestrator")->slot_files);
  CHECK(off.slot_files_max == 20ull << 30);

  // openclawd passes these flags itself: extra_args may not.
  std::string flag(minimal_yaml);
  flag.replace(flag.find("    ctx: 32768"), 0, "    extra_args: [--cache-ram, \"100\"]\n");
  const auto e = load_error(dir, flag);
  CHECK_THAT(e.message, Catch::Contains("is passed by openclawd from the cache_ram: key"));
  std::string bad(minimal_yaml);
  bad.replace(bad.find("    ctx: 32768"), 0, "    cache_ram: lots\n");
  CHECK_THAT(load_error(dir, bad).message, Catch::Contains("expected a size"));
}

// ---------------------------------------------------------------------------
// telegram: and admin:

namespace {
// Model files and a llama-server stand-in, so that load_config runs every file check
// (the token is only read then).
std::string checked_yaml(const temp_dir& dir, std::string_view extra) {
  dir.touch("orch.gguf");
  dir.touch("sub.gguf");
  const fs::path server = dir.executable("bin/llama-server");
  return std::string(extra) + "llama_server: " + server.string() + "\n" + std::string(minimal_yaml);
}
constexpr const char* good_token = "123456789:AAFakeTokenForTestsOnly-abcdefghijk";
}  // namespace

TEST_CASE("config: telegram is off without its section, on with it", "[config][telegram]") {
  temp_dir dir;
  const auto off = load_ok(dir, std::string(minimal_yaml));
  CHECK_FALSE(off.telegram.enabled);
  CHECK(off.admin.port == 0);
  const auto on = load_ok(dir, "telegram:\n  allowed_users: [42, -1001234567890123]\n" + std::string(minimal_yaml));
  CHECK(on.telegram.enabled);
  CHECK(on.telegram.api_base == "https://api.telegram.org");
  CHECK(on.telegram.allowed_users == std::vector<std::int64_t>{42, -1001234567890123});
  CHECK(on.telegram.allowed_groups.empty());
  CHECK(on.telegram.strangers == openclawd::core::stranger_policy::refuse_daily);
  CHECK(on.telegram.poll_timeout == 30s);
  CHECK(on.telegram.watchdog == 120s);
  CHECK(on.telegram.streaming == "auto");
  CHECK(on.telegram.token.empty());  // not read without file checks (status, stop)
  const auto parked = load_ok(dir, "telegram: {enabled: false}\n" + std::string(minimal_yaml));
  CHECK_FALSE(parked.telegram.enabled);
}

TEST_CASE("config: every telegram and admin key", "[config][telegram]") {
  temp_dir dir;
  const auto c = load_ok(dir,
                         "telegram:\n"
                         "  api_base: http://127.0.0.1:8081/\n"
                         "  token_file: secrets/bot.token\n"
                         "  allowed_users: [1, 2]\n"
                         "  allowed_groups: [-100123]\n"
                         "  strangers: ignore\n"
                         "  poll_timeout: 50s\n"
                         "  watchdog: 2m\n"
                         "  streaming: edit\n"
                         "  edit_interval: 1500ms\n"
                         "  typing_interval: 3s\n"
                         "  typing_delay: 0s\n"
                         "  max_input_chars: 2000\n"
                         "admin:\n"
                         "  port: 8090\n" +
                             std::string(minimal_yaml));
  CHECK(c.telegram.api_base == "http://127.0.0.1:8081");
  CHECK(c.telegram.token_file == dir.path() / "secrets/bot.token");
  CHECK(c.telegram.allowed_groups == std::vector<std::int64_t>{-100123});
  CHECK(c.telegram.strangers == openclawd::core::stranger_policy::ignore);
  CHECK(c.telegram.poll_timeout == 50s);
  CHECK(c.telegram.watchdog == 120s);
  CHECK(c.telegram.streaming == "edit");
  CHECK(c.telegram.edit_interval == 1500ms);
  CHECK(c.telegram.typing_interval == 3s);
  CHECK(c.telegram.typing_delay == 0ms);
  CHECK(c.telegram.max_input_chars == 2000);
  CHECK(c.admin.port == 8090);
}

TEST_CASE("config: telegram mistakes name the key and what is expected", "[config][telegram]") {
  temp_dir dir;
  const std::string m(minimal_yaml);
  check_error(load_error(dir, "telegram:\n  api_base: http://api.telegram.org\n" + m), 2, 13, "telegram.api_base",
              "expected an https:// URL (http:// only for 127.0.0.1, localhost or [::1]), found \"http://api.telegram.org\"");
  check_error(load_error(dir, "telegram:\n  allowed_users: [\"@alice\"]\n" + m), 2, 19, "telegram.allowed_users[0]",
              "expected a numeric Telegram id such as 123456789 (ask @userinfobot for yours), found \"@alice\"");
  check_error(load_error(dir, "telegram:\n  poll_timeout: 90s\n" + m), 2, 17, "telegram.poll_timeout",
              "expected a duration of at most 50s (Telegram caps long polls at 50 s), found \"90s\"");
  check_error(load_error(dir, "telegram:\n  poll_timeout: 40s\n  watchdog: 45s\n" + m), 3, 13, "telegram.watchdog",
              "expected at least poll_timeout + 10s (50s), found \"45s\"");
  check_error(load_error(dir, "telegram:\n  streaming: yes\n" + m), 2, 14, "telegram.streaming",
              "expected auto (drafts in private chats, edited previews elsewhere), edit or off, found \"yes\"");
  check_error(load_error(dir, "telegram:\n  allowlist: [1]\n" + m), 2, 3, "telegram.allowlist",
              "unknown key \"allowlist\"; did you mean \"allowed_users\"?");
  check_error(load_error(dir, "admin:\n  port: 8082\n" + m), 2, 9, "admin.port",
              "port 8082 is already used by nodes.subagent.port (line 11)");
}

TEST_CASE("config: the bot token comes from a private file or the environment, never echoed", "[config][telegram]") {
  temp_dir dir;
  const fs::path token = dir.write("bot.token", std::string(good_token) + "\n");
  ::chmod(token.c_str(), 0600);
  scoped_env unset("OPENCLAWD_TELEGRAM_TOKEN", std::nullopt);
  SECTION("a private file") {
    const auto c = load_ok(dir, checked_yaml(dir, "telegram:\n  token_file: bot.token\n"), load_options{});
    CHECK(c.telegram.token == good_token);
  }
  SECTION("a file others can read is refused, and the error does not contain the token") {
    ::chmod(token.c_str(), 0644);
    const auto e = load_error(dir, checked_yaml(dir, "telegram:\n  token_file: bot.token\n"), load_options{});
    CHECK(e.key == "telegram.token_file");
    CHECK(e.line == 2);
    CHECK(e.message == "token file " + token.string() + " is readable by others (mode 0644); run: chmod 600 " +
                           token.string());
    CHECK(e.to_string().find("AAFake") == std::string::npos);
  }
  SECTION("garbage in the file is refused without quoting it") {
    dir.write("bot.token", "not a token but a secret\n");
    ::chmod(token.c_str(), 0600);
    const auto e = load_error(dir, checked_yaml(dir, "telegram:\n  token_file: bot.token\n"), load_options{});
    CHECK(e.to_string().find("secret") == std::string::npos);
    CHECK(e.message.find("does not look like a bot token") != std::string::npos);
  }
  SECTION("the environment") {
    scoped_env set("OPENCLAWD_TELEGRAM_TOKEN", std::string(good_token));
    const auto c = load_ok(dir, checked_yaml(dir, "telegram:\n  allowed_users: [1]\n"), load_options{});
    CHECK(c.telegram.token == good_token);
  }
  SECTION("neither") {
    const auto e = load_error(dir, checked_yaml(dir, "telegram:\n  allowed_users: [1]\n"), load_options{});
    check_error(e, 1, 1, "telegram.token_file",
                "no bot token: set telegram.token_file to a file only you can read (chmod 600), or the environment "
                "variable OPENCLAWD_TELEGRAM_TOKEN");
  }
}

// ---------------------------------------------------------------------------
// url: nodes (a server openclawd does not run)

TEST_CASE("config: a node may name a url instead of a model", "[config][url]") {
  temp_dir dir;
  dir.touch("orch.gguf");
  const fs::path server = dir.executable("bin/llama-server");
  const config c = load_ok(dir,
                           "llama_server: " + server.string() +
                               "\nnodes:\n"
                               "  orchestrator:\n"
                               "    model: orch.gguf\n"
                               "    ctx: 32768\n"
                               "    port: 8081\n"
                               "  subagent:\n"
                               "    url: HTTP://Gpu-Box.local:8080/\n"
                               "    ctx: 8192\n"
                               "    parallel: 2\n"
                               "    startup_timeout: 30s\n",
                           load_options{true});  // no model file, no program checked for it
  const auto& sub = c.nodes[1];
  CHECK(sub.remote());
  CHECK(sub.url == "http://gpu-box.local:8080");
  CHECK(sub.ctx == 8192);
  CHECK(sub.parallel == 2);
  CHECK(sub.port == 0);
  CHECK(sub.model.empty());
  CHECK(sub.llama_server.empty());
  CHECK(sub.startup_timeout == 30s);
  CHECK_FALSE(c.nodes[0].remote());
  // The default port, IPv6 in brackets, and two url: nodes (no port of ours to collide).
  const auto both = load_ok(dir, "nodes:\n  orchestrator: {url: \"http://[::1]:9000\", ctx: 1}\n"
                                 "  subagent: {url: \"http://192.168.1.20\", ctx: 1}\n");
  CHECK(both.nodes[0].url == "http://[::1]:9000");
  CHECK(both.nodes[1].url == "http://192.168.1.20:80");
}

TEST_CASE("config: url and the keys of a spawned node exclude each other", "[config][url]") {
  temp_dir dir;
  const std::string head = "nodes:\n  orchestrator: {model: o.gguf, ctx: 1, port: 1}\n  subagent:\n";
  check_error(load_error(dir, head + "    url: http://10.0.0.2:8080\n    model: s.gguf\n    ctx: 1\n"), 5, 5,
              "nodes.subagent.model",
              "url: and model: exclude each other: url: names a server that is already running, model: one "
              "that openclawd starts; keep one");
  for (const std::string key : {"port: 8082", "fallbacks: [a.gguf]", "gpu_layers: 99", "threads: 4",
                                "extra_args: [--jinja]", "llama_server: /bin/true", "stop_timeout: 5s"}) {
    const auto e = load_error(dir, head + "    url: http://10.0.0.2:8080\n    ctx: 1\n    " + key + "\n");
    const std::string name = key.substr(0, key.find(':'));
    CHECK(e.line == 6);
    CHECK(e.column == 5);
    CHECK(e.key == "nodes.subagent." + name);
    CHECK(e.message == "\"" + name + "\" makes no sense with url: (openclawd does not start that server; configure "
                                     "it where it runs)");
  }
  // ctx stays required: the pipeline budgets prompts with it.
  check_error(load_error(dir, head + "    url: http://10.0.0.2:8080\n"), 3, 3, "nodes.subagent",
              "missing required key \"ctx\"");
  // Neither: model is what is missing.
  check_error(load_error(dir, head + "    ctx: 1\n    port: 2\n"), 3, 3, "nodes.subagent",
              "missing required key \"model\"");
}

TEST_CASE("config: a bad url says what is expected", "[config][url]") {
  temp_dir dir;
  const auto with_url = [](std::string_view url) {
    return "nodes:\n  orchestrator: {model: o.gguf, ctx: 1, port: 1}\n  subagent:\n    url: " + std::string(url) +
           "\n    ctx: 1\n";
  };
  check_error(load_error(dir, with_url("gpu-box:8080")), 4, 10, "nodes.subagent.url",
              "expected http://host:port, such as http://192.168.1.20:8080, found \"gpu-box:8080\"");
  check_error(load_error(dir, with_url("https://gpu-box:8080")), 4, 10, "nodes.subagent.url",
              "https:// is not supported for nodes; use http:// (on a network you trust), found \"https://gpu-box:8080\"");
  check_error(load_error(dir, with_url("http://gpu-box:8080/v1")), 4, 10, "nodes.subagent.url",
              "expected no path, only http://host:port (openclawd adds /health, /v1/chat/completions, ...), found "
              "\"http://gpu-box:8080/v1\"");
  check_error(load_error(dir, with_url("http://gpu-box:99999")), 4, 10, "nodes.subagent.url",
              "expected a port from 1 to 65535 in http://host:port, found \"http://gpu-box:99999\"");
  check_error(load_error(dir, with_url("http://user@gpu-box:1")), 4, 10, "nodes.subagent.url",
              "expected no user name, only http://host:port, found \"http://user@gpu-box:1\"");
  CHECK(load_error(dir, with_url("http://:8080")).key == "nodes.subagent.url");
  CHECK(load_error(dir, with_url("http://gpu box:8080")).key == "nodes.subagent.url");
  CHECK(load_error(dir, with_url("http://[zz]:1")).key == "nodes.subagent.url");
}

TEST_CASE("config: configs compare field by field", "[config][reload]") {
  temp_dir dir;
  const config a = load_ok(dir, minimal_yaml);
  config b = load_ok(dir, minimal_yaml);
  CHECK(a.nodes == b.nodes);
  CHECK(a.health == b.health);
  b.nodes[1].fallbacks.push_back("/x.gguf");
  b.health.interval = 1s;
  CHECK_FALSE(a.nodes[1] == b.nodes[1]);
  CHECK(a.nodes[0] == b.nodes[0]);
  CHECK_FALSE(a.health == b.health);
}

// ---------------------------------------------------------------------------
// RPC workers (docs/configuration.md, workers:)

namespace {

// The minimal file with two workers the orchestrator uses. Line 1 is "workers:".
constexpr std::string_view workers_yaml =
    "workers:\n"                      // 1
    "  box-a:\n"                      // 2
    "    port: 50052\n"               // 3
    "    threads: 4\n"                // 4
    "  gpu-box:\n"                    // 5
    "    remote: 192.168.1.20:50052\n"  // 6
    "nodes:\n"                        // 7
    "  orchestrator:\n"               // 8
    "    model: orch.gguf\n"          // 9
    "    ctx: 32768\n"                // 10
    "    port: 8081\n"                // 11
    "    rpc: [box-a, gpu-box]\n"     // 12
    "  subagent:\n"                   // 13
    "    model: sub.gguf\n"           // 14
    "    ctx: 8192\n"                 // 15
    "    port: 8082\n";               // 16

std::string workers_with(std::string_view from, std::string_view to) {
  std::string s(workers_yaml);
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("config: workers load, and a node's rpc: list becomes endpoints in order", "[config][rpc]") {
  temp_dir dir;
  const config c = load_ok(dir, workers_yaml);
  REQUIRE(c.workers.size() == 2);
  CHECK(c.workers[0].name == "box-a");
  CHECK_FALSE(c.workers[0].is_remote());
  CHECK(c.workers[0].host == "127.0.0.1");
  CHECK(c.workers[0].port == 50052);
  CHECK(c.workers[0].threads == 4);
  CHECK(c.workers[0].endpoint() == "127.0.0.1:50052");
  CHECK(c.workers[1].is_remote());
  CHECK(c.workers[1].endpoint() == "192.168.1.20:50052");
  REQUIRE(c.find_node("orchestrator") != nullptr);
  CHECK(c.find_node("orchestrator")->rpc == std::vector<std::string>{"box-a", "gpu-box"});
  CHECK(c.find_node("orchestrator")->rpc_endpoints ==
        std::vector<std::string>{"127.0.0.1:50052", "192.168.1.20:50052"});
  CHECK(c.find_node("subagent")->rpc_endpoints.empty());
}

TEST_CASE("config: the worker program defaults to ggml-rpc-server beside llama-server", "[config][rpc]") {
  temp_dir dir;
  const auto server = dir.executable("bin/llama-server");
  const auto worker = dir.executable("bin/ggml-rpc-server");
  dir.touch("orch.gguf");
  dir.touch("sub.gguf");
  const config c = load_ok(dir, "llama_server: bin/llama-server\n" + std::string(workers_yaml), load_options{true});
  CHECK(c.workers[0].rpc_server == worker);
  (void)server;
}

TEST_CASE("config: worker mistakes name file, line, column and key", "[config][rpc]") {
  temp_dir dir;
  SECTION("a node lists a worker that is not declared") {
    check_error(load_error(dir, workers_with("rpc: [box-a, gpu-box]", "rpc: [box-a, box-b]")), 12, 18,
                "nodes.orchestrator.rpc", "no worker named \"box-b\" under workers: (known: box-a, gpu-box)");
  }
  SECTION("a declared worker nobody uses") {
    check_error(load_error(dir, workers_with("rpc: [box-a, gpu-box]", "rpc: [box-a]")), 5, 3, "workers.gpu-box",
                "worker \"gpu-box\" is not used by any node: list it in nodes.orchestrator.rpc (or "
                "nodes.subagent.rpc), or remove it");
  }
  SECTION("binding the network without the opt-in") {
    const auto e = load_error(dir, workers_with("    port: 50052\n", "    port: 50052\n    host: 0.0.0.0\n"));
    CHECK(e.line == 4);
    CHECK(e.key == "workers.box-a.host");
    CHECK(e.message.find("no authentication") != std::string::npos);
    CHECK(e.message.find("allow_network: true") != std::string::npos);
  }
  SECTION("the opt-in accepts it") {
    const config c = load_ok(dir, workers_with("    port: 50052\n", "    port: 50052\n    host: 0.0.0.0\n    allow_network: true\n"));
    CHECK(c.workers[0].endpoint() == "0.0.0.0:50052");
  }
  SECTION("a remote worker takes no keys of a spawned one") {
    check_error(load_error(dir, workers_with("    remote: 192.168.1.20:50052\n", "    remote: 192.168.1.20:50052\n    threads: 2\n")),
                7, 5, "workers.gpu-box.threads",
                "\"threads\" makes no sense with remote: (openclawd does not start that worker; configure it where it runs)");
  }
  SECTION("a remote address needs its port") {
    const auto e = load_error(dir, workers_with("192.168.1.20:50052", "192.168.1.20"));
    CHECK(e.key == "workers.gpu-box.remote");
    CHECK(e.message.find("expected host:port") != std::string::npos);
  }
  SECTION("a spawned worker needs a port") {
    check_error(load_error(dir, workers_with("    port: 50052\n", "")), 2, 3, "workers.box-a",
                "missing required key \"port\" (or remote: host:port)");
  }
  SECTION("a worker on a node's port") {
    check_error(load_error(dir, workers_with("    port: 50052\n", "    port: 8082\n")), 3, 11, "workers.box-a.port",
                "port 8082 is already used by nodes.subagent.port (line 16)");
  }
  SECTION("a worker listed twice") {
    check_error(load_error(dir, workers_with("rpc: [box-a, gpu-box]", "rpc: [box-a, box-a]")), 12, 18,
                "nodes.orchestrator.rpc[1]", "worker \"box-a\" is listed twice (first at line 12)");
  }
  SECTION("--rpc by hand in extra_args") {
    const auto e = load_error(dir, workers_with("    rpc: [box-a, gpu-box]\n",
                                                "    rpc: [box-a, gpu-box]\n    extra_args: [\"--rpc\", \"h:1\"]\n"));
    CHECK(e.key == "nodes.orchestrator.extra_args[0]");
    CHECK(e.message.find("rpc") != std::string::npos);
  }
  SECTION("a worker named like a node") {
    const auto e = load_error(dir, workers_with("  box-a:\n", "  subagent:\n"));
    CHECK(e.key == "workers.subagent");
    CHECK(e.line == 2);
  }
}

// pages: (the page-reading tool, docs/pages.md)

TEST_CASE("config: pages defaults, every key, and mistakes named", "[config][pages]") {
  temp_dir dir;
  const auto d = load_ok(dir, minimal_yaml).pages;
  CHECK(d.enabled);
  CHECK(d.read_results == 2);
  CHECK(d.max_urls == 3);
  CHECK_FALSE(d.allow_http);
  CHECK(d.max_body == 2u * 1024 * 1024);
  CHECK(d.cache_ttl == std::chrono::minutes(15));
  const auto s = load_ok(dir, R"yaml(pages:
  enabled: false
  read_results: 3
  max_urls: 5
  allow_http: true
  max_redirects: 5
  max_body: 1MiB
  max_chars: 20000
  connect_timeout: 5s
  read_timeout: 8s
  page_timeout: 15s
  message_timeout: 40s
  min_interval: 2s
  cache_ttl: 0s
  cache_entries: 10
  backoff_initial: 2m
  backoff_max: 2h
  user_agent: "MyAgent/1.0"
)yaml" + std::string(minimal_yaml)).pages;
  CHECK_FALSE(s.enabled);
  CHECK(s.read_results == 3);
  CHECK(s.max_urls == 5);
  CHECK(s.allow_http);
  CHECK(s.max_redirects == 5);
  CHECK(s.max_body == 1024u * 1024);
  CHECK(s.max_chars == 20000);
  CHECK(s.page_timeout == std::chrono::seconds(15));
  CHECK(s.message_timeout == std::chrono::seconds(40));
  CHECK(s.cache_entries == 10);
  CHECK(s.backoff_max == std::chrono::hours(2));
  CHECK(s.user_agent == "MyAgent/1.0");

  const auto with = [](std::string_view lines) { return "pages:\n" + std::string(lines) + std::string(minimal_yaml); };
  check_error(load_error(dir, with("  read_results: 9\n")), 2, 17, "pages.read_results",
              "expected an integer from 1 to 5, found \"9\"");
  check_error(load_error(dir, with("  page_timeout: 40s\n  message_timeout: 20s\n")), 3, 20, "pages.message_timeout",
              "expected a duration of at least pages.page_timeout (40s), found \"20s\"");
  check_error(load_error(dir, with("  backoff_initial: 2h\n")), 2, 20, "pages.backoff_initial",
              "expected at most pages.backoff_max (1h, the default), found \"2h\"; raise backoff_max too");
  check_error(load_error(dir, with("  allow_loopback: true\n")), 2, 3, "pages.allow_loopback",
              "unknown key \"allow_loopback\"; expected one of: enabled, read_results, max_urls, allow_http, "
              "max_redirects, max_body, max_chars, connect_timeout, read_timeout, page_timeout, message_timeout, "
              "min_interval, cache_ttl, cache_entries, backoff_initial, backoff_max, user_agent");
}
