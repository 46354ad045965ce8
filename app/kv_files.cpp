#include "app/kv_files.hpp"

#include <array>
#include <cstdio>
#include <fstream>

namespace openclawd::app {
namespace {

struct fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(std::string_view s) {
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // a separator, so that "ab"+"c" differs from "a"+"bc"
  }
  void add_file(const std::filesystem::path& p, bool content) {
    std::error_code ec;
    add(p.string());
    add(std::to_string(std::filesystem::file_size(p, ec)));
    add(std::to_string(std::filesystem::last_write_time(p, ec).time_since_epoch().count()));
    if (!content) return;
    std::ifstream in(p, std::ios::binary);
    std::array<char, 64 * 1024> buf{};
    for (int i = 0; i < 16 && in; ++i) {
      in.read(buf.data(), buf.size());
      add(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
    }
  }
};

}  // namespace

std::string kv_fingerprint(const core::node_config& n, const std::filesystem::path& model) {
  fnv f;
  f.add_file(model, true);
  f.add_file(n.llama_server, false);
  f.add("ctx=" + std::to_string(n.ctx));
  f.add("parallel=" + std::to_string(n.parallel.value_or(0)));
  f.add("gpu_layers=" + std::to_string(n.gpu_layers));
  for (const auto& a : n.extra_args) f.add(a);
  char out[24];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(f.h));
  return out;
}

gateway::kv_files kv_files_of(const core::config& cfg, const core::node_config& n, const std::filesystem::path& model) {
  gateway::kv_files files;
  files.enabled = n.slot_files;
  files.dir = n.slot_dir;
  files.max_bytes = cfg.slot_files_max;
  if (files.enabled) files.fingerprint = kv_fingerprint(n, model);
  return files;
}

}  // namespace openclawd::app
