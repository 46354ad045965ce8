// Checks made before anything is spawned, so that `start` fails with a clear sentence
// instead of a child's exit code: is each node's port free on 127.0.0.1, and will both
// models (weights + KV cache for `ctx`) fit in this machine's memory?
// Plain functions, called from the CLI and the daemon's thread.
#pragma once

#include "core/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace openclawd::supervisor {

// nullopt when 127.0.0.1:port can be bound now; otherwise the reason ("Address already in use").
std::optional<std::string> port_unavailable(int port);

// One sentence per node whose port is taken, naming the node, the key and the port.
std::vector<std::string> check_ports(const core::config& cfg);

struct memory_estimate {
  std::string node;
  std::uint64_t weights_bytes = 0;   // the model file's size (mmapped weights)
  std::uint64_t kv_cache_bytes = 0;  // f16 K and V for min(ctx, training context) tokens (sliding windows counted)
  std::uint64_t checkpoint_bytes = 0;    // llama-server's context checkpoints of sliding-window layers, at most
  std::uint64_t prompt_cache_bytes = 0;  // --cache-ram: llama-server's host prompt cache, at most
  bool kv_known = false;             // false when the header could not be read
  std::uint64_t total() const { return weights_bytes + kv_cache_bytes + checkpoint_bytes + prompt_cache_bytes; }
};

struct memory_report {
  std::vector<memory_estimate> nodes;
  std::optional<std::uint64_t> physical_bytes;
  std::optional<std::uint64_t> available_bytes;
  std::vector<std::string> warnings;  // empty when everything fits comfortably
};

// Adds warnings to `r` from its estimates and memory figures. Pure, for tests.
void assess_memory(memory_report& r);

// Estimates what the first model of each node needs. Counts the weights in RAM even
// with gpu_layers > 0: on a Mac with a discrete GPU the file is still mapped, and
// the estimate is a warning, never a refusal.
memory_report estimate_memory(const core::config& cfg);

std::string format_bytes(std::uint64_t bytes);  // "1.5 GiB"

}  // namespace openclawd::supervisor
