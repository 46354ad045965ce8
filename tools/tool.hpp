// The seam between the agent pipeline and the tools it may call (style.md §14): a small
// abstract class with one awaitable method. Tools are owned by the daemon's gateway and
// run on its io_context thread; invoke() never throws for expected failures (a blocked
// search, bad arguments): those come back as a status plus a note for the model.
#pragma once

#include "net/asio.hpp"

#include <string>
#include <string_view>

namespace openclawd::tools {

enum class tool_status {
  ok,                 // content holds the tool's data, fenced as untrusted
  unavailable,        // the tool could not answer now (blocked, offline, paused); content says why
  invalid_arguments,  // the arguments were not what parameters_schema() describes; content says how
};
std::string_view to_string(tool_status status);

struct tool_output {
  tool_status status = tool_status::ok;
  // Text for the model. Data from outside (web pages) is always inside a fence marked as
  // untrusted (tools/untrusted_text.hpp), never loose.
  std::string content;
};

class tool {
 public:
  virtual ~tool() = default;

  virtual std::string_view name() const = 0;               // "web_search": [a-z_]+, unique
  virtual std::string_view description() const = 0;        // one or two sentences for the model
  virtual std::string_view parameters_schema() const = 0;  // JSON Schema of the arguments object
  // `arguments_json` is the model's tool-call arguments (a JSON object as text).
  virtual asio::awaitable<tool_output> invoke(std::string arguments_json) = 0;

 protected:
  tool() = default;
  tool(const tool&) = default;
  tool& operator=(const tool&) = default;
};

}  // namespace openclawd::tools
