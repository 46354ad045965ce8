// Prompt-cache benchmark: a 30-turn conversation through the real pipeline and two real
// llama-server nodes (tiny generated models), printing per turn how many of the
// orchestrator's prompt tokens were evaluated versus new since the previous turn.
// The target (issue 3): after the first turn, evaluated / new close to 1.0 — the prompt
// is append-only, so everything older comes from the slot's KV cache.
// With --model, both nodes run that file (a tiny model with a real family's tokenizer and
// template, <build>/tests/models/<family>/hello.gguf), its template probed as the daemon does,
// so that the figure is the family's layout (issue 15).
//
//   openclawd-bench-prompt-cache [--turns N] [--llama-server PATH] [--json FILE] [--model GGUF]
//                                [--chat-template-file FILE] [--label NAME]
// Binds 127.0.0.1 only. Not a test: it prints numbers and writes JSON.
#include "bench/bench_support.hpp"
#include "core/gguf.hpp"
#include "gateway/pipeline.hpp"
#include "gateway/template_probe.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace openclawd;
using namespace openclawd::gateway;
using namespace std::chrono_literals;

namespace {

std::string user_message(int turn) {
  static const char* topics[] = {"the history of the bicycle", "how sourdough rises", "what a KV cache is",
                                 "planning a trip to Lisbon", "why the sky is blue", "learning the cello"};
  std::string m = "Turn " + std::to_string(turn) + ": tell me about " + topics[turn % 6] + ".";
  for (int i = 0; i < turn % 4; ++i) m += " Please also add a detail I have not heard before.";
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int turns = 30;
  std::string bin = ".deps/bin/llama-server", json_out = "bench/results/prompt_cache.json", model, template_file,
              label = "tiny (ChatML)";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--turns") turns = std::atoi(argv[i + 1]);
    else if (a == "--llama-server") bin = argv[i + 1];
    else if (a == "--json") json_out = argv[i + 1];
    else if (a == "--model") model = argv[i + 1];
    else if (a == "--chat-template-file") template_file = argv[i + 1];
    else if (a == "--label") label = argv[i + 1];
  }
  const auto dir = std::filesystem::temp_directory_path() / ("openclawd-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string orch_model = model, sub_model = model;
  if (model.empty()) {
    for (const char* name : {"orchestrator", "subagent"}) {
      if (!core::write_tiny_model(dir / (std::string(name) + ".gguf"), core::tiny_model_kind::hello)) {
        std::cerr << "cannot write the tiny models\n";
        return 1;
      }
    }
    orch_model = (dir / "orchestrator.gguf").string();
    sub_model = (dir / "subagent.gguf").string();
  }
  auto args = [&](const std::string& file, int ctx) {
    std::vector<std::string> a{"-m", file, "-c", std::to_string(ctx), "-np", "1"};
    if (!template_file.empty()) a.insert(a.end(), {"--chat-template-file", template_file});
    return a;
  };
  bench::llama_child orch(bin, args(orch_model, 32768));
  bench::llama_child sub(bin, args(sub_model, 8192));
  if (!orch.start() || !sub.start()) {
    std::cerr << "llama-server did not start (" << bin << ")\n";
    return 1;
  }

  asio::io_context io;
  auto store = conversation_store::open(dir / "conversations.db");
  if (!store) return 1;
  openai_client oc(io.get_executor(), {asio::ip::address_v4::loopback(), static_cast<unsigned short>(orch.port())});
  openai_client sc(io.get_executor(), {asio::ip::address_v4::loopback(), static_cast<unsigned short>(sub.port())});
  auto cfg = pipeline_config::defaults();
  cfg.decision_max_tokens = 24;  // the tiny model's JSON is short; the prompt is what we measure
  pipeline p(*store, {"orchestrator", &oc, 32768, 1, "o"}, {"subagent", &sc, 8192, 1, "s"}, nullptr, nullptr, cfg);
  // As the daemon does at ready: the requests are shaped for what each template accepts.
  std::string template_summary;
  for (auto [name, client] : {std::pair<const char*, llm_client*>{"orchestrator", &oc}, {"subagent", &sc}}) {
    auto t = asio::co_spawn(io, probe_template(*client), asio::use_future);
    io.restart();
    io.run();
    const auto traits = t.get();
    if (!traits || !traits->usable()) {
      std::cerr << name << ": cannot learn its chat template\n";
      return 1;
    }
    p.set_template(name, *traits);
    template_summary = traits->summary();
  }
  std::printf("%s: template %s\n", label.c_str(), template_summary.c_str());

  nlohmann::json rows = nlohmann::json::array();
  long total_eval = 0, total_new = 0, total_prompt = 0;
  int previous = 0;
  std::printf("%4s %8s %8s %8s %8s %8s\n", "turn", "prompt", "cached", "evaluated", "new", "eval/new");
  for (int t = 0; t < turns; ++t) {
    auto f = asio::co_spawn(io, p.handle("bench", user_message(t), {}), asio::use_future);
    io.restart();
    io.run();
    const auto r = f.get();
    if (!r.ok || !r.decision_timings) {
      std::cerr << "turn " << t << " failed: " << r.text << "\n";
      return 1;
    }
    const auto& tm = *r.decision_timings;
    const int prompt = tm.cache_n + tm.prompt_n;
    const int fresh = prompt - previous;
    const double ratio = fresh > 0 ? static_cast<double>(tm.prompt_n) / fresh : 0.0;
    std::printf("%4d %8d %8d %8d %8d %8.2f\n", t + 1, prompt, tm.cache_n, tm.prompt_n, fresh, ratio);
    rows.push_back({{"turn", t + 1}, {"prompt", prompt}, {"cached", tm.cache_n}, {"evaluated", tm.prompt_n},
                    {"new", fresh}});
    if (t > 0) {
      total_eval += tm.prompt_n;
      total_new += fresh;
    }
    total_prompt += prompt;
    previous = prompt;
  }
  const double ratio = total_new > 0 ? static_cast<double>(total_eval) / total_new : 0.0;
  std::printf("turns 2-%d: evaluated %ld of %ld new tokens (ratio %.3f); without the cache: %ld\n", turns,
              total_eval, total_new, ratio, total_prompt);
  std::filesystem::create_directories(std::filesystem::path(json_out).parent_path());
  std::ofstream(json_out) << nlohmann::json{{"label", label},
                                           {"template", template_summary},
                                           {"turns", rows},
                                           {"cache_eval_ratio", ratio},
                                           {"evaluated_after_first", total_eval},
                                           {"new_after_first", total_new},
                                           {"without_cache", total_prompt}}
                                 .dump(2)
                          << "\n";
  std::filesystem::remove_all(dir);
  return 0;
}
