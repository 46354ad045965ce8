// Unit tests for core/model_ref (references, quant and split selection, the lock file) and
// for model references in the YAML (core/config): resolved from the lock and cache, or an
// error at the value's file:line:col when not pulled.
#include "core/config.hpp"
#include "core/model_ref.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace openclawd::core;

namespace {

struct scratch {
  scratch() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() / ("openclawd-model-ref-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const fs::path& rel, const std::string& text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel, std::ios::binary) << text;
    return path / rel;
  }
  fs::path path;
};

std::vector<hub_file> tree_of(std::initializer_list<const char*> paths) {
  std::vector<hub_file> out;
  for (const char* p : paths) out.push_back({p, 10, ""});
  return out;
}

}  // namespace

TEST_CASE("model_ref: parses quant and file references, canonical text", "[model_ref]") {
  auto q = parse_model_ref("hf:bartowski/gemma-3-27b-it-GGUF:q4_k_m");
  REQUIRE(q.has_value());
  CHECK(q->owner == "bartowski");
  CHECK(q->repo == "gemma-3-27b-it-GGUF");
  CHECK(q->quant == "Q4_K_M");
  CHECK(q->text() == "hf:bartowski/gemma-3-27b-it-GGUF:Q4_K_M");

  auto f = parse_model_ref("hf:owner/repo/sub/x-Q8_0.gguf");
  REQUIRE(f.has_value());
  CHECK(f->file == "sub/x-Q8_0.gguf");
  CHECK(f->quant.empty());

  auto bare = parse_model_ref("hf:owner/repo");
  REQUIRE(bare.has_value());
  CHECK(bare->text() == "hf:owner/repo");
}

TEST_CASE("model_ref: refuses malformed references with a reason", "[model_ref]") {
  std::string why;
  CHECK_FALSE(parse_model_ref("hf:noslash", &why));
  CHECK(why.find("hf:owner/repo:QUANT") != std::string::npos);
  CHECK_FALSE(parse_model_ref("hf:owner/repo:", &why));
  CHECK_FALSE(parse_model_ref("hf:owner/repo/../etc/passwd.gguf", &why));
  CHECK_FALSE(parse_model_ref("hf:owner/repo/readme.md", &why));
  CHECK(why.find("not a .gguf") != std::string::npos);
  CHECK_FALSE(parse_model_ref("hf:-owner/repo:Q4_0", &why));
  CHECK_FALSE(parse_model_ref("hf:owner/re po:Q4_0", &why));
}

TEST_CASE("model_ref: a repository path must stay inside the cache", "[model_ref]") {
  CHECK(is_safe_repo_path("a/b-Q4_0.gguf"));
  CHECK_FALSE(is_safe_repo_path("../x.gguf"));
  CHECK_FALSE(is_safe_repo_path("a/../../x.gguf"));
  CHECK_FALSE(is_safe_repo_path("/etc/x.gguf"));
  CHECK_FALSE(is_safe_repo_path("a//b.gguf"));
  CHECK_FALSE(is_safe_repo_path("a\\b.gguf"));
}

TEST_CASE("model_ref: split names and quant tags", "[model_ref]") {
  auto s = split_of("dir/x-Q4_K_M-00002-of-00003.gguf");
  CHECK(s.prefix == "dir/x-Q4_K_M");
  CHECK(s.index == 2);
  CHECK(s.count == 3);
  CHECK(split_of("x-Q4_0.gguf").count == 1);
  CHECK(quant_of("dir/x-Q4_K_M-00002-of-00003.gguf") == "Q4_K_M");
  CHECK(quant_of("model.BF16.gguf") == "BF16");
  CHECK(quant_of("model.gguf") == "");
}

TEST_CASE("model_ref: a quant selects its file, and a split model all its parts in order", "[model_ref]") {
  const auto tree = tree_of({"README.md", "x-Q8_0.gguf", "x-BF16.gguf", "mmproj-x-F16.gguf",
                             "Q4_K_M/x-Q4_K_M-00002-of-00002.gguf", "Q4_K_M/x-Q4_K_M-00001-of-00002.gguf"});
  auto q8 = select_files(*parse_model_ref("hf:o/r:Q8_0"), tree);
  REQUIRE(q8.has_value());
  REQUIRE(q8->size() == 1);
  CHECK(q8->front().path == "x-Q8_0.gguf");

  auto split = select_files(*parse_model_ref("hf:o/r:Q4_K_M"), tree);
  REQUIRE(split.has_value());
  REQUIRE(split->size() == 2);
  CHECK((*split)[0].path == "Q4_K_M/x-Q4_K_M-00001-of-00002.gguf");
  CHECK((*split)[1].path == "Q4_K_M/x-Q4_K_M-00002-of-00002.gguf");

  // F16 is not BF16's tag, and a projector is never the model.
  auto f16 = select_files(*parse_model_ref("hf:o/r:F16"), tree);
  REQUIRE_FALSE(f16.has_value());
  CHECK(f16.error() == "o/r has no F16 quant; available: BF16, Q4_K_M, Q8_0");

  auto by_file = select_files(*parse_model_ref("hf:o/r/x-bf16.gguf"), tree);
  REQUIRE(by_file.has_value());
  CHECK(by_file->front().path == "x-BF16.gguf");

  // Without a tag: llama.cpp's default order, Q4_K_M first.
  auto dflt = select_files(*parse_model_ref("hf:o/r"), tree);
  REQUIRE(dflt.has_value());
  CHECK(dflt->front().path == "Q4_K_M/x-Q4_K_M-00001-of-00002.gguf");
}

TEST_CASE("model_ref: a split model with a missing part is refused", "[model_ref]") {
  const auto tree = tree_of({"x-Q4_0-00001-of-00003.gguf", "x-Q4_0-00003-of-00003.gguf"});
  auto r = select_files(*parse_model_ref("hf:o/r:Q4_0"), tree);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().find("x-Q4_0-00002-of-00003.gguf") != std::string::npos);
}

TEST_CASE("model_ref: the lock file round-trips, and cached_model_path needs every file at full size", "[model_ref]") {
  scratch s;
  const fs::path cache = s.path / "models";
  CHECK(lock_file_of(cache) == s.path / "models.lock");
  model_lock lock;
  lock.put({"hf:o/r:Q4_0", std::string(40, 'a'), {{"x-Q4_0-00001-of-00002.gguf", 3, "ab"}, {"x-Q4_0-00002-of-00002.gguf", 2, "cd"}},
            true, "2026-12-07T03:00:00Z"});
  REQUIRE_FALSE(write_model_lock(lock_file_of(cache), lock));
  auto back = read_model_lock(lock_file_of(cache));
  REQUIRE(back.has_value());
  REQUIRE(back->models.size() == 1);
  CHECK(back->models[0] == lock.models[0]);

  CHECK_FALSE(cached_model_path(cache, *back, "hf:o/r:Q4_0"));
  const auto first = cached_file_path(cache, "o/r", std::string(40, 'a'), "x-Q4_0-00001-of-00002.gguf");
  s.write(fs::relative(first, s.path), "abc");
  CHECK_FALSE(cached_model_path(cache, *back, "hf:o/r:Q4_0"));  // part 2 missing
  s.write(fs::relative(cached_file_path(cache, "o/r", std::string(40, 'a'), "x-Q4_0-00002-of-00002.gguf"), s.path), "d");
  CHECK_FALSE(cached_model_path(cache, *back, "hf:o/r:Q4_0"));  // part 2 short
  s.write(fs::relative(cached_file_path(cache, "o/r", std::string(40, 'a'), "x-Q4_0-00002-of-00002.gguf"), s.path), "de");
  CHECK(cached_model_path(cache, *back, "hf:o/r:Q4_0") == first);
}

TEST_CASE("model_ref: a damaged lock file: wrong types are skipped, never thrown", "[model_ref]") {
  scratch s;
  const auto file = s.write("models.lock",
                            R"({"version":1,"models":[{"ref":"hf:o/r:Q4_0","revision":[{"path":"x"}],"files":[]},)"
                            R"({"ref":"hf:o/r:Q8_0","revision":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","verified":"yes",)"
                            R"("files":[{"path":"x-Q8_0.gguf","size":-1,"sha256":7}]}]})");
  auto lock = read_model_lock(file);
  REQUIRE(lock.has_value());
  REQUIRE(lock->models.size() == 1);
  CHECK(lock->models[0].ref == "hf:o/r:Q8_0");
  CHECK_FALSE(lock->models[0].verified);
  CHECK(lock->models[0].files[0].size == 0);
  CHECK(lock->models[0].files[0].sha256.empty());
  const auto bad = s.write("bad.lock", "not json");
  CHECK_FALSE(read_model_lock(bad).has_value());
}

TEST_CASE("config: hf: references resolve through the lock, and unpulled ones are an error at their value", "[model_ref][config]") {
  scratch s;
  s.write("llama-server", "#!/bin/sh\n");
  fs::permissions(s.path / "llama-server", fs::perms::owner_all);
  s.write("plain.gguf", "x");
  const auto yaml = s.write("c.yaml",
                            "llama_server: ./llama-server\n"
                            "hub: {cache_dir: ./cache, endpoint: \"http://127.0.0.1:9/\"}\n"
                            "nodes:\n"
                            "  orchestrator:\n"
                            "    model: hf:o/r:Q4_0\n"
                            "    fallbacks: [./plain.gguf, hf:o/r:Q8_0]\n"
                            "    ctx: 512\n"
                            "    port: 18081\n"
                            "  subagent: {model: ./plain.gguf, ctx: 512, port: 18082}\n");
  auto strict = load_config(yaml);
  REQUIRE_FALSE(strict.has_value());
  CHECK(strict.error().line == 5);
  CHECK(strict.error().column == 12);
  CHECK(strict.error().key == "nodes.orchestrator.model");
  CHECK(strict.error().message.find("hf:o/r:Q4_0 is not in the model cache") != std::string::npos);

  load_options lenient;
  lenient.allow_unpulled = true;
  auto cfg = load_config(yaml, lenient);
  REQUIRE(cfg.has_value());
  CHECK(cfg->hub.endpoint == "http://127.0.0.1:9/");
  CHECK(cfg->hub.cache_dir == s.path / "cache");
  CHECK(unpulled_refs(*cfg) == std::vector<std::string>{"hf:o/r:Q4_0", "hf:o/r:Q8_0"});
  const auto& n = cfg->nodes[0];
  CHECK(n.model_refs == std::vector<std::string>{"hf:o/r:Q4_0", "", "hf:o/r:Q8_0"});

  // Pulled: the locked revision's file is the model.
  const std::string rev(40, 'b');
  model_lock lock;
  lock.put({"hf:o/r:Q4_0", rev, {{"x-Q4_0.gguf", 1, ""}}, true, ""});
  lock.put({"hf:o/r:Q8_0", rev, {{"x-Q8_0.gguf", 1, ""}}, true, ""});
  REQUIRE_FALSE(write_model_lock(lock_file_of(s.path / "cache"), lock));
  s.write(fs::relative(cached_file_path(s.path / "cache", "o/r", rev, "x-Q4_0.gguf"), s.path), "1");
  s.write(fs::relative(cached_file_path(s.path / "cache", "o/r", rev, "x-Q8_0.gguf"), s.path), "1");
  auto pulled = load_config(yaml);
  REQUIRE(pulled.has_value());
  CHECK(pulled->nodes[0].model == cached_file_path(s.path / "cache", "o/r", rev, "x-Q4_0.gguf"));
  CHECK(pulled->nodes[0].fallbacks[1] == cached_file_path(s.path / "cache", "o/r", rev, "x-Q8_0.gguf"));
  CHECK(unpulled_refs(*pulled).empty());
}

TEST_CASE("config: a malformed reference is an error at its value", "[model_ref][config]") {
  scratch s;
  const auto yaml = s.write("c.yaml",
                            "nodes:\n"
                            "  orchestrator: {model: \"hf:o\", ctx: 512, port: 18081}\n"
                            "  subagent: {model: ./plain.gguf, ctx: 512, port: 18082}\n");
  auto cfg = load_config(yaml, load_options{false});
  REQUIRE_FALSE(cfg.has_value());
  CHECK(cfg.error().key == "nodes.orchestrator.model");
  CHECK(cfg.error().line == 2);
}

TEST_CASE("config: the hub endpoint comes from MODEL_ENDPOINT, and HF_ENDPOINT", "[model_ref][config]") {
  scratch s;
  const auto yaml = s.write("c.yaml",
                            "nodes:\n"
                            "  orchestrator: {model: ./a.gguf, ctx: 512, port: 18081}\n"
                            "  subagent: {model: ./a.gguf, ctx: 512, port: 18082}\n");
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:7", 1);
  auto cfg = load_config(yaml, load_options{false});
  REQUIRE(cfg.has_value());
  CHECK(cfg->hub.endpoint == "http://127.0.0.1:7/");
  ::setenv("MODEL_ENDPOINT", "http://localhost:8/", 1);
  cfg = load_config(yaml, load_options{false});
  CHECK(cfg->hub.endpoint == "http://localhost:8/");
  ::setenv("MODEL_ENDPOINT", "http://example.com/", 1);
  cfg = load_config(yaml, load_options{false});
  REQUIRE_FALSE(cfg.has_value());
  CHECK(cfg.error().message.find("$MODEL_ENDPOINT") != std::string::npos);
  ::unsetenv("MODEL_ENDPOINT");
  ::unsetenv("HF_ENDPOINT");
  cfg = load_config(yaml, load_options{false});
  CHECK(cfg->hub.endpoint == "https://huggingface.co/");
}
