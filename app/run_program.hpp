// Runs a short-lived helper program (launchctl, systemctl, `llama-server --version`) to
// completion with a deadline, and captures what it printed. Blocking; for the CLI only,
// never the daemon's io_context. The program gets its own process group, so a deadline
// kills anything it started as well.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace openclawd::app {

struct program_result {
  bool started = false;    // false: fork/exec failed (see `error`)
  bool timed_out = false;  // killed (SIGKILL to its group) at the deadline
  int exit_code = -1;      // the exit code; 128 + signal when a signal ended it; -1 if not started
  std::string output;      // stdout and stderr interleaved, at most the caller's max_output bytes
  std::string error;       // why it did not start ("launchctl: No such file or directory")

  bool ok() const { return started && !timed_out && exit_code == 0; }
  // "exited with code 1: <first line of output>", "not found on PATH", "no answer within 10 s".
  std::string describe() const;
};

// argv[0] is looked up on $PATH when it has no "/" (that lookup is the seam tests use to
// substitute fake managers). stdin is /dev/null.
program_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                           std::size_t max_output = 64 * 1024);

}  // namespace openclawd::app
