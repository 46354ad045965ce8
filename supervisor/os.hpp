// Thin, documented wrappers around the POSIX calls the supervisor needs: process
// identity (pid + start time, so a recycled pid is never mistaken for our child),
// group signals, wait-status decoding, and a few /proc or sysctl reads.
// Plain functions; no state; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

namespace openclawd::supervisor::os {

// How a process ended, decoded from a waitpid() status.
struct exit_status {
  std::optional<int> code;    // set when it exited normally
  std::optional<int> signal;  // set when a signal ended it
  std::string describe() const;  // "exited with code 1", "killed by signal 9 (SIGKILL)"
};
exit_status decode_wait_status(int status);

std::string signal_name(int sig);  // "SIGKILL"; "signal 42" for unknown numbers

// An opaque, monotonic-per-boot start time of `pid` (Linux: /proc/<pid>/stat field 22,
// in clock ticks since boot; macOS: kinfo_proc's p_starttime in microseconds).
// nullopt when the process does not exist, or on Linux is a zombie with no thread left that
// could still hold its files (a zombie main thread whose other threads are exiting counts as alive).
std::optional<std::uint64_t> process_start_time(pid_t pid);

// True when `pid` is stopped by a signal (SIGSTOP, SIGTSTP): alive, holding its port, answering
// nothing. A worker in use cannot be asked a question (it serves one client at a time), so this
// is how its liveness is seen.
bool process_stopped(pid_t pid);

// True when `pid` runs and, if `start_time` is given, is the same process we recorded.
bool same_process_alive(pid_t pid, std::optional<std::uint64_t> start_time);

// kill(-pgid, sig); ESRCH (nobody left in the group) is not an error.
void signal_group(pid_t pgid, int sig);

// Total and currently available physical memory in bytes.
std::optional<std::uint64_t> physical_memory_bytes();
std::optional<std::uint64_t> available_memory_bytes();

// Opens a file with O_CLOEXEC so that no llama-server ever inherits it.
int open_cloexec(const std::filesystem::path& p, int flags, int mode = 0600);

}  // namespace openclawd::supervisor::os
