#include "app/run_program.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace openclawd::app {
namespace {
using steady = std::chrono::steady_clock;

std::string first_line(const std::string& s) {
  std::size_t start = s.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  const auto end = s.find('\n', start);
  std::string line = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

void set_cloexec(int fd) { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }  // no pipe2 on macOS

}  // namespace

std::string program_result::describe() const {
  if (!started) return error;
  if (timed_out) return "no answer before the deadline (killed)";
  std::string what = exit_code >= 128 ? "killed by signal " + std::to_string(exit_code - 128)
                                      : "exited with code " + std::to_string(exit_code);
  if (const auto line = first_line(output); !line.empty()) what += ": " + line;
  return what;
}

program_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                           std::size_t max_output) {
  program_result r;
  if (argv.empty()) {
    r.error = "no program given";
    return r;
  }
  int out[2], exec_err[2];
  if (::pipe(out) != 0) {
    r.error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe(exec_err) != 0) {
    r.error = std::string("cannot create a pipe: ") + std::strerror(errno);
    ::close(out[0]);
    ::close(out[1]);
    return r;
  }
  for (int fd : {out[0], out[1], exec_err[0], exec_err[1]}) set_cloexec(fd);

  std::vector<char*> args;
  std::vector<std::string> copy = argv;
  for (auto& s : copy) args.push_back(s.data());
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    r.error = std::string("cannot fork: ") + std::strerror(errno);
    for (int fd : {out[0], out[1], exec_err[0], exec_err[1]}) ::close(fd);
    return r;
  }
  if (pid == 0) {
    // Its own group, so that the deadline can kill whatever it forked, too.
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    // The CLI ignores SIGPIPE; a child must get the default back.
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(args[0], args.data());
    const int e = errno;
    [[maybe_unused]] const auto n = ::write(exec_err[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(exec_err[1]);

  // exec_err closes (EOF) on a successful exec, or carries exec's errno.
  int exec_errno = 0;
  ssize_t n_err;
  while ((n_err = ::read(exec_err[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  ::close(exec_err[0]);
  if (n_err == static_cast<ssize_t>(sizeof exec_errno)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(out[0]);
    r.error = argv[0] + ": " + std::strerror(exec_errno);
    if (exec_errno == ENOENT && argv[0].find('/') == std::string::npos) r.error = argv[0] + ": not found on PATH";
    return r;
  }
  r.started = true;

  const auto end = steady::now() + deadline;
  bool eof = false, exited = false;
  int status = 0;
  char buf[4096];
  auto read_some = [&](int timeout_ms) {
    pollfd p{out[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready <= 0) return false;
    const auto n = ::read(out[0], buf, sizeof buf);
    if (n < 0) return errno == EINTR;
    if (n == 0) {
      eof = true;
      return false;
    }
    const auto room = max_output > r.output.size() ? max_output - r.output.size() : 0;
    r.output.append(buf, std::min(room, static_cast<std::size_t>(n)));
    return true;
  };
  for (;;) {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (exited) {
      // Drain what is buffered, but do not wait for EOF: something the program started
      // in the background (a daemon) may hold the pipe open for hours.
      while (!eof && read_some(0)) {
      }
      break;
    }
    const auto now = steady::now();
    if (now >= end) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      r.timed_out = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count();
    if (eof) {
      ::usleep(10'000);  // output closed, still running: poll its exit
    } else {
      read_some(static_cast<int>(std::min<long long>(left, 50)));
    }
  }
  ::close(out[0]);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  return r;
}

}  // namespace openclawd::app
