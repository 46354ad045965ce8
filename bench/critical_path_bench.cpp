// The orchestrator's critical path (issue 16): what it evaluates and generates between a user's
// message and the decision, in the cases where a chat's state used to be lost, measured on the
// real pipeline and the real llama-server with tiny models that carry Gemma 3's real tokenizer
// and template (also as a gemma3-architecture model with a 32-token sliding window).
//
//   follow-up      the next message in the same chat
//   chat switch    back to chat A after one message in B and one in C, all on one slot
//   node restart   the first message after the orchestrator's llama-server was restarted
//   daemon restart the first message after the pipeline and its KV keeper were made anew
//
// Per case: the decision's prompt_n (tokens evaluated now) against the message's own tokens
// (what the next prompt holds beyond what the warm-up could have evaluated: the message and the
// template's markers around it), and the decision's generated tokens. "before" runs the same
// without the KV keeper (no warm-up, no slot files: the behaviour before issue 16). Then the time
// to the first answer token on the story's machine, projected from those counts and the rates
// given (an estimate, labelled as one).
//
//   openclawd-bench-critical-path --models DIR [--llama-server PATH] [--json FILE]
//     [--prompt-rate TOK/S] [--gen-rate TOK/S] [--sub-prompt-rate TOK/S]
// DIR is <build>/tests/models. Binds 127.0.0.1 only.
#include "bench/bench_support.hpp"
#include "gateway/kv_keeper.hpp"
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
using nlohmann::json;

namespace {

template <class T>
T run(asio::io_context& io, asio::awaitable<T> a) {
  auto f = asio::co_spawn(io, std::move(a), asio::use_future);
  io.restart();
  io.run();
  return f.get();
}

// A message of about `words` words, distinct per chat and turn.
std::string message(const std::string& chat, int turn, int words = 24) {
  std::string m = "Chat " + chat + ", message " + std::to_string(turn) + ": tell me about";
  static const char* topics[] = {"harbors", "bicycles", "sourdough", "the cello", "Lisbon", "KV caches"};
  for (int i = 0; i < words; ++i) m += std::string(" ") + topics[(turn + i) % 6];
  return m + ".";
}

struct case_result {
  std::string name;
  int prompt_n = 0;     // evaluated for the decision
  int cache_n = 0;
  int own = 0;          // the message's own tokens (message + the template's markers around it)
  int generated = 0;    // the decision's tokens
  int sub_prompt_n = 0; // the subagent's evaluated prompt, for the projection
  double ratio() const { return own > 0 ? static_cast<double>(prompt_n) / own : 0.0; }
};

struct rig {
  std::string bin;
  std::filesystem::path dir;
  std::string orch_model, sub_model;
  bool keep;  // with the KV keeper (warm-ups, slot files): "after"; without: "before"
  std::unique_ptr<bench::llama_child> orch, sub;
  asio::io_context io;
  std::unique_ptr<conversation_store> store;
  std::unique_ptr<openai_client> oc, sc;
  std::unique_ptr<kv_keeper> kv;
  std::unique_ptr<pipeline> p;
  template_traits orch_traits, sub_traits;

  rig(std::string b, std::filesystem::path d, std::string om, std::string sm, bool k)
      : bin(std::move(b)), dir(std::move(d)), orch_model(std::move(om)), sub_model(std::move(sm)), keep(k) {
    std::filesystem::create_directories(dir / "kv");
    // No host prompt cache: what is measured is the keeper, not llama-server's RAM cache (which
    // hits or misses, and is lost on restart).
    orch = std::make_unique<bench::llama_child>(
        bin, std::vector<std::string>{"-m", orch_model, "-c", "8192", "-np", "1", "--cache-ram", "0", "--slot-save-path",
                                      (dir / "kv").string()});
    sub = std::make_unique<bench::llama_child>(
        bin, std::vector<std::string>{"-m", sub_model, "-c", "4096", "-np", "1", "--cache-ram", "0"});
    if (!orch->start() || !sub->start()) throw std::runtime_error("llama-server did not start (" + bin + ")");
    auto s = conversation_store::open(dir / "conversations.db");
    if (!s) throw std::runtime_error("cannot open the store");
    store = std::make_unique<conversation_store>(std::move(*s));
    oc = std::make_unique<openai_client>(io.get_executor(), asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(),
                                                                                      static_cast<unsigned short>(orch->port())});
    sc = std::make_unique<openai_client>(io.get_executor(), asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(),
                                                                                      static_cast<unsigned short>(sub->port())});
    orch_traits = *run(io, probe_template(*oc));
    sub_traits = *run(io, probe_template(*sc));
    make_pipeline();
  }

  // A new pipeline and keeper on the same store and files: what a daemon restart leaves.
  void make_pipeline() {
    p.reset();
    kv.reset();
    auto cfg = pipeline_config::defaults();
    cfg.answer_max_tokens = 120;  // the story model writes until the cap: answers of ~120 tokens
    p = std::make_unique<pipeline>(*store, node_view{"orchestrator", oc.get(), 8192, 1, "o"},
                                   node_view{"subagent", sc.get(), 4096, 1, "s"}, nullptr, nullptr, cfg);
    p->set_template("orchestrator", orch_traits);
    p->set_template("subagent", sub_traits);
    if (keep) {
      kv_files files{true, dir / "kv", "bench", 0};
      kv = std::make_unique<kv_keeper>(*oc, "orchestrator", 1, files);
      p->set_kv_keeper(kv.get());
    }
  }

  // Sends a message. run() returns once the io_context has no work left, so the warm-up the
  // answer starts in the background has finished too: the user took their time to reply.
  reply send(const std::string& chat, const std::string& text) { return run(io, p->handle(chat, text, {})); }

  // The message's own tokens: the prompt's tokens beyond the text the next request starts with
  // (the history rendered with a stand-in for the message, cut at the stand-in).
  int own_tokens(const std::string& chat, const std::string& text) {
    auto turns = store->turns(chat, 1, "");
    std::vector<shaped_turn> shaped;
    for (const auto& t : *turns)
      shaped.push_back({t.role == turn_role::user ? shaped_role::user : shaped_role::assistant, t.content});
    const auto info = store->chat(chat);
    const std::string summary = info ? info->summary : std::string();
    auto thinking = orch_traits.thinking ? std::optional<bool>(false) : std::nullopt;
    auto full_turns = shaped;
    full_turns.push_back({shaped_role::user, text});
    const auto full = shape_conversation({p->config().orchestrator_prompt, summary, full_turns, {}}, orch_traits);
    const auto rendered = run(io, oc->apply_template(full, thinking));
    auto prefix_turns = shaped;
    static const std::string stand_in = "\x01stand-in\x01";
    prefix_turns.push_back({shaped_role::user, stand_in});
    const auto pre = shape_conversation({p->config().orchestrator_prompt, summary, prefix_turns, {}}, orch_traits);
    auto prefix = run(io, oc->apply_template(pre, thinking));
    if (!rendered || !prefix) return 0;
    prefix->resize(prefix->find(stand_in));
    const auto a = run(io, oc->count_tokens(*rendered)), b = run(io, oc->count_tokens(*prefix));
    return a && b ? *a - *b : 0;
  }

  case_result measure(const std::string& name, const std::string& chat, const std::string& text) {
    case_result c;
    c.name = name;
    c.own = own_tokens(chat, text);
    const auto r = send(chat, text);
    if (r.decision_timings) {
      c.prompt_n = r.decision_timings->prompt_n;
      c.cache_n = r.decision_timings->cache_n;
      c.generated = r.decision_timings->predicted_n;
    }
    if (r.answer_timings) c.sub_prompt_n = r.answer_timings->prompt_n;
    return c;
  }
};

std::vector<case_result> run_cases(const std::string& bin, const std::filesystem::path& dir, const std::string& om,
                                   const std::string& sm, bool keep) {
  std::filesystem::remove_all(dir);
  rig g(bin, dir, om, sm, keep);
  // A conversation of some length in chat A, and one message each in B and C.
  for (int t = 1; t <= 6; ++t) g.send("A", message("A", t));
  std::vector<case_result> out;
  out.push_back(g.measure("follow-up", "A", message("A", 7)));
  g.send("B", message("B", 1));
  g.send("C", message("C", 1));
  out.push_back(g.measure("chat switch (3 chats, 1 slot)", "A", message("A", 8)));
  g.orch->stop();
  if (!g.orch->start()) throw std::runtime_error("llama-server did not come back");
  if (g.kv) g.kv->node_restarted();
  out.push_back(g.measure("first message after a node restart", "A", message("A", 9)));
  g.make_pipeline();
  g.orch->stop();
  if (!g.orch->start()) throw std::runtime_error("llama-server did not come back");
  out.push_back(g.measure("first message after a daemon restart", "A", message("A", 10)));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin = ".deps/bin/llama-server", json_out = "bench/results/critical_path.json", models;
  double prompt_rate = 30, gen_rate = 4, sub_prompt_rate = 400;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--llama-server") bin = argv[i + 1];
    else if (a == "--json") json_out = argv[i + 1];
    else if (a == "--models") models = argv[i + 1];
    else if (a == "--prompt-rate") prompt_rate = std::atof(argv[i + 1]);
    else if (a == "--gen-rate") gen_rate = std::atof(argv[i + 1]);
    else if (a == "--sub-prompt-rate") sub_prompt_rate = std::atof(argv[i + 1]);
  }
  if (models.empty()) {
    std::cerr << "usage: openclawd-bench-critical-path --models <build>/tests/models [--llama-server PATH] [--json FILE]\n";
    return 2;
  }
  const std::filesystem::path m(models);
  const std::pair<const char*, std::string> families[] = {
      {"Gemma 3", (m / "gemma3" / "hello.gguf").string()},
      {"Gemma 3, gemma3 architecture, sliding window 32", (m / "gemma3" / "hello-gemma3.gguf").string()}};
  const std::string sub_model = (m / "gemma3" / "story.gguf").string();
  const auto base = std::filesystem::temp_directory_path() / ("openclawd-bench-cp-" + std::to_string(::getpid()));
  json doc{{"rates", {{"orchestrator_prompt_tokens_per_s", prompt_rate},
                      {"orchestrator_generated_tokens_per_s", gen_rate},
                      {"subagent_prompt_tokens_per_s", sub_prompt_rate}}},
           {"families", json::array()}};
  std::printf("projection for the story's machine (an estimate): orchestrator %.0f prompt tokens/s, %.0f generated/s; "
              "subagent %.0f prompt tokens/s\n",
              prompt_rate, gen_rate, sub_prompt_rate);
  bool met = true;
  for (const auto& [label, orch_model] : families) {
    if (!std::filesystem::is_regular_file(orch_model) || !std::filesystem::is_regular_file(sub_model)) {
      std::cerr << orch_model << " or " << sub_model << " is missing: build the tests first\n";
      return 1;
    }
    const auto before = run_cases(bin, base / "before", orch_model, sub_model, false);
    const auto after = run_cases(bin, base / "after", orch_model, sub_model, true);
    std::printf("\n%s\n%-40s %8s %8s %8s %7s %7s %10s %10s\n", label, "case", "own", "before", "after", "ratio",
                "decision", "est before", "est after");
    json rows = json::array();
    for (std::size_t i = 0; i < after.size(); ++i) {
      const auto& b = before[i];
      const auto& a = after[i];
      auto estimate = [&](const case_result& c) {
        return c.prompt_n / prompt_rate + c.generated / gen_rate + c.sub_prompt_n / sub_prompt_rate;
      };
      std::printf("%-40s %8d %8d %8d %7.2f %7d %9.1fs %9.1fs\n", a.name.c_str(), a.own, b.prompt_n, a.prompt_n,
                  a.ratio(), a.generated, estimate(b), estimate(a));
      met = met && a.ratio() <= 1.2 && a.generated <= 24;
      rows.push_back({{"case", a.name},
                      {"own_tokens", a.own},
                      {"before", {{"prompt_n", b.prompt_n}, {"cache_n", b.cache_n}, {"generated", b.generated},
                                  {"ratio", b.ratio()}, {"estimated_first_token_s", estimate(b)}}},
                      {"after", {{"prompt_n", a.prompt_n}, {"cache_n", a.cache_n}, {"generated", a.generated},
                                 {"ratio", a.ratio()}, {"estimated_first_token_s", estimate(a)}}}});
    }
    doc["families"].push_back({{"family", label}, {"cases", rows}});
  }
  doc["targets_met"] = met;
  std::printf("\ntargets (ratio <= 1.2 in every case, decision <= 24 generated tokens): %s\n", met ? "met" : "NOT met");
  std::filesystem::create_directories(std::filesystem::path(json_out).parent_path());
  std::ofstream(json_out) << doc.dump(2) << "\n";
  std::filesystem::remove_all(base);
  return 0;
}
