// The rules of the interactive chat's lines (app/chat_commands.hpp): what is a command, what
// goes to the model, which chat names are allowed.
#include "app/chat_commands.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using openclawd::app::chat_line_kind;
using openclawd::app::chat_name_problem;
using openclawd::app::parse_chat_line;

TEST_CASE("chat commands: a line without a leading / is a message as typed, // sends a leading /", "[chat]") {
  CHECK(parse_chat_line("Hi there").kind == chat_line_kind::message);
  CHECK(parse_chat_line("Hi there").text == "Hi there");
  CHECK(parse_chat_line(" /help").kind == chat_line_kind::message);  // only a / at the very start
  CHECK(parse_chat_line("  padded  ").text == "  padded  ");
  const auto escaped = parse_chat_line("//etc/hosts, what is it?");
  CHECK(escaped.kind == chat_line_kind::message);
  CHECK(escaped.text == "/etc/hosts, what is it?");
  CHECK(parse_chat_line("//").text == "/");
}

TEST_CASE("chat commands: the known commands, any ASCII case, never sent to the model", "[chat]") {
  CHECK(parse_chat_line("/help").kind == chat_line_kind::help);
  CHECK(parse_chat_line("/HELP me").kind == chat_line_kind::help);
  CHECK(parse_chat_line("/help ").kind == chat_line_kind::help);  // as Tab completes it
  CHECK(parse_chat_line("/quit").kind == chat_line_kind::quit);
  CHECK(parse_chat_line("/Quit now").kind == chat_line_kind::quit);
  CHECK(parse_chat_line("/reset").kind == chat_line_kind::reset);
  CHECK(parse_chat_line("/reset\t").kind == chat_line_kind::reset);
  // Clearing a conversation is not done on a line that may mean something else.
  CHECK(parse_chat_line("/reset all of it").kind == chat_line_kind::hint);
  CHECK(parse_chat_line("/chat").kind == chat_line_kind::show_chat);
  const auto sw = parse_chat_line("/chat  work-2.b_c ");
  CHECK(sw.kind == chat_line_kind::switch_chat);
  CHECK(sw.text == "work-2.b_c");
}

TEST_CASE("chat commands: unknown commands and a lone / get a hint, not the model", "[chat]") {
  const auto unknown = parse_chat_line("/frobnicate the thing");
  CHECK(unknown.kind == chat_line_kind::hint);
  CHECK(unknown.text ==
        "unknown command /frobnicate: /help lists the commands; type // to send a message that starts with /");
  CHECK(parse_chat_line("/Exit").text.rfind("unknown command /exit:", 0) == 0);
  // What is echoed back stays short and printable.
  CHECK(parse_chat_line("/" + std::string(200, 'x')).text.rfind("unknown command that command:", 0) == 0);
  CHECK(parse_chat_line("/\x1b[2J").text.rfind("unknown command that command:", 0) == 0);
  for (const char* line : {"/", "/ ", "/ spaced out", "/\t"}) {
    INFO(line);
    const auto l = parse_chat_line(line);
    CHECK(l.kind == chat_line_kind::hint);
    CHECK(l.text.rfind("a line that starts with / is a command", 0) == 0);
  }
}

TEST_CASE("chat commands: chat names are 1 to 64 letters, digits, '.', '_' or '-'", "[chat]") {
  for (const std::string& ok : std::vector<std::string>{"default", "a", "Work-2", "x.y_z", std::string(64, 'n')}) {
    INFO(ok);
    CHECK(chat_name_problem(ok).empty());
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "two words", "new\nline", "caf\xc3\xa9", "a/b", "a:b", std::string(65, 'n')}) {
    INFO(bad);
    CHECK(chat_name_problem(bad) == "not a chat name: use 1 to 64 letters (a-z, A-Z), digits, '.', '_' or '-'");
  }
  const auto bad = parse_chat_line("/chat a:b");
  CHECK(bad.kind == chat_line_kind::hint);
  CHECK(bad.text.rfind("/chat NAME: not a chat name", 0) == 0);
  CHECK(parse_chat_line("/chat two words").kind == chat_line_kind::hint);
}
