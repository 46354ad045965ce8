// What makes a node's slot files valid (gateway/kv_keeper.hpp), from its configuration and the
// model it runs: a file saved under one fingerprint is restored only under the same one.
#pragma once

#include "core/config.hpp"
#include "gateway/kv_keeper.hpp"

#include <filesystem>
#include <string>

namespace openclawd::app {

// The model file (size, modification time and a hash of its first MiB: its header and
// vocabulary, without reading a 15 GB file), the llama-server program (size, time), and every
// setting that changes the KV cache or its layout: ctx, parallel, gpu_layers and extra_args
// (cache types, flash attention, --swa-full, ...). Hex digits.
std::string kv_fingerprint(const core::node_config& n, const std::filesystem::path& model);

// The keeper's settings for `n` running `model`.
gateway::kv_files kv_files_of(const core::config& cfg, const core::node_config& n, const std::filesystem::path& model);

}  // namespace openclawd::app
