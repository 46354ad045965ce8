// What a loading llama-server is doing, read from the tail of its node log: the last line it
// wrote since openclawd's "---- … openclawd: starting" marker, without llama-server's
// timestamp/level/module prefix ("load_model: loading model '…'", "model loaded"), and a
// percentage when the line ends in llama.cpp's progress dots (one per percent). Pure text in,
// value out: `start` and `status` show it while a node loads a large model.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace openclawd::supervisor {

struct load_phase {
  std::string text;            // "" when the node has written nothing since it was started
  std::optional<int> percent;  // 0..100, from progress dots
};

load_phase parse_load_phase(std::string_view log_tail);

// The last `max_bytes` of `file` ("" when it cannot be read).
std::string read_log_tail(const std::string& file, std::size_t max_bytes = 16384);

}  // namespace openclawd::supervisor
