// The interactive chat's input. On a terminal (stdin and stdout both): line editing and a
// history kept across sessions in a file, through libedit's readline-compatible API (Debian's
// libedit-dev, macOS's system libedit). Otherwise (a pipe, a file, the tests): plain lines
// from stdin, as before, so that scripts keep working. One per process: the library keeps its
// state in globals. Blocking; the CLI's one thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace openclawd::app {

class line_reader {
 public:
  // At most this many lines are kept in the history file; longer lines than
  // max_history_line_bytes (a paste, not something to recall) are not kept at all.
  static constexpr int max_history_lines = 1000;
  static constexpr std::size_t max_history_line_bytes = 4096;

  // `history_file`: where the history is kept (mode 0600: it holds what the user typed).
  explicit line_reader(std::filesystem::path history_file);
  ~line_reader();
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;

  // True when lines are read from a terminal with editing and history.
  bool editing() const noexcept { return editing_; }

  // The next line without its newline; nullopt at the end of input (Ctrl-D).
  std::optional<std::string> read(const std::string& prompt);

  // Adds `line` to the history and writes the file (every line: Ctrl-C at the prompt ends the
  // process). Returns "" or why the file could not be written. Does nothing without a terminal.
  std::string remember(const std::string& line);

 private:
  std::filesystem::path history_file_;
  bool editing_ = false;
  std::string last_remembered_;
};

}  // namespace openclawd::app
