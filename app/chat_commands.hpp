// What a line typed into the interactive `openclawd chat` means: a message for the model, or
// one of the commands answered on the spot (/help, /chat NAME, /reset, /quit). Pure functions,
// no I/O: app/cmd_chat.cpp acts on the result. The rules are in docs/cli.md ("chat").
#pragma once

#include <string>
#include <string_view>

namespace openclawd::app {

enum class chat_line_kind {
  message,      // text: what to send to the model
  help,         // print chat_help_text
  quit,         // leave
  reset,        // clear the current chat's conversation
  switch_chat,  // text: the name of the chat to switch to (already valid)
  show_chat,    // "/chat" alone: say which chat this is
  hint,         // text: what to tell the user instead (unknown command, bad name, ...)
};

struct chat_line {
  chat_line_kind kind = chat_line_kind::message;
  std::string text;
};

// A line that does not start with "/" is a message, as typed. A line that starts with "//" is a
// message without its first "/" (how to send "/etc/hosts ..."). Any other line that starts with
// "/" is a command and never reaches the model: the command is the word right after the "/"
// (ASCII case ignored); an unknown one, or a "/" followed by a space or nothing, gets a hint.
chat_line parse_chat_line(std::string_view line);

// "" when `name` may name a local chat (stored as local:NAME), else the sentence to show.
// 1 to 64 ASCII letters, digits, '.', '_' or '-': the name is shown in prompts and written into
// the daemon's log lines, where a newline or a terminal escape must never come from it.
std::string chat_name_problem(std::string_view name);

// The commands, one a line, for /help.
extern const std::string_view chat_help_text;

}  // namespace openclawd::app
