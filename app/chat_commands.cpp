#include "app/chat_commands.hpp"

#include <algorithm>
#include <cstddef>

namespace openclawd::app {
namespace {

constexpr std::size_t max_chat_name = 64;
// An unknown command is echoed in the hint; a pasted wall of text is not.
constexpr std::size_t max_echoed_command = 32;

constexpr std::string_view whitespace = " \t\r\n\f\v";

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(whitespace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(whitespace) - b + 1);
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

chat_line hint(std::string text) { return {chat_line_kind::hint, std::move(text)}; }

}  // namespace

const std::string_view chat_help_text =
    "/help        these commands\n"
    "/chat NAME   switch to the local chat NAME (1 to 64 letters, digits, '.', '_' or '-');\n"
    "             /chat alone says which chat this is\n"
    "/reset       clear this chat's conversation\n"
    "/quit        leave (also Ctrl-D)\n"
    "Any other line is sent as a message. To send one that starts with /, type // (//etc/hosts sends /etc/hosts).\n";

std::string chat_name_problem(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= max_chat_name &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                           c == '_' || c == '-';
                  });
  if (ok) return {};
  return "not a chat name: use 1 to 64 letters (a-z, A-Z), digits, '.', '_' or '-'";
}

chat_line parse_chat_line(std::string_view line) {
  if (line.empty() || line.front() != '/') return {chat_line_kind::message, std::string(line)};
  if (line.size() >= 2 && line[1] == '/') return {chat_line_kind::message, std::string(line.substr(1))};

  const auto end_of_word = std::min(line.find_first_of(whitespace), line.size());
  const std::string word = ascii_lower(line.substr(1, end_of_word - 1));
  const auto rest = trim(line.substr(end_of_word));
  // "/" alone or "/ text": nothing here names a command, and sending it to the model would
  // surprise whoever typed a "/" to see what the commands are.
  if (word.empty()) return hint("a line that starts with / is a command: /help lists them; type // to send a message that starts with /");

  if (word == "help") return {chat_line_kind::help, {}};
  // Leaving is harmless, so "/quit now" leaves too; /reset destroys, so it takes nothing after it.
  if (word == "quit") return {chat_line_kind::quit, {}};
  if (word == "reset") {
    if (!rest.empty()) return hint("/reset takes no argument: it clears this chat's conversation");
    return {chat_line_kind::reset, {}};
  }
  if (word == "chat") {
    if (rest.empty()) return {chat_line_kind::show_chat, {}};
    if (auto why = chat_name_problem(rest); !why.empty()) return hint("/chat NAME: " + why);
    return {chat_line_kind::switch_chat, std::string(rest)};
  }
  std::string shown = "/" + word;
  if (!printable_ascii(word) || shown.size() > max_echoed_command) shown = "that command";
  return hint("unknown command " + shown + ": /help lists the commands; type // to send a message that starts with /");
}

}  // namespace openclawd::app
