#include "app/instance.hpp"

#include "supervisor/os.hpp"
#include "supervisor/state_file.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace openclawd::app {
using namespace std::chrono_literals;

state_paths state_paths::of(const std::filesystem::path& state_dir) {
  state_paths p;
  p.dir = state_dir;
  p.lock = state_dir / "openclawd.lock";
  p.pid = state_dir / "openclawd.pid";
  p.state = state_dir / "state.json";
  p.logs = state_dir / "logs";
  p.daemon_log = p.logs / "daemon.log";
  return p;
}

std::string prepare_state_dir(const state_paths& p) {
  std::error_code ec;
  std::filesystem::create_directories(p.logs, ec);
  if (ec) return "cannot create the state directory " + p.logs.string() + ": " + ec.message();
  // Logs may hold prompts and paths: owner only.
  ::chmod(p.dir.c_str(), 0700);
  ::chmod(p.logs.c_str(), 0700);
  if (::access(p.dir.c_str(), W_OK) != 0) return "the state directory " + p.dir.string() + " is not writable";
  return {};
}

instance_lock::~instance_lock() { release(); }

instance_lock& instance_lock::operator=(instance_lock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void instance_lock::release() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
  fd_ = -1;
}

std::optional<instance_lock> instance_lock::try_acquire(const std::filesystem::path& lock_file) {
  // O_CLOEXEC: a llama-server that inherited this descriptor would keep the lock
  // after the daemon died, and every later start would think we still run.
  const int fd = supervisor::os::open_cloexec(lock_file, O_RDWR | O_CREAT, 0600);
  if (fd < 0) return std::nullopt;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  return instance_lock(fd);
}

bool instance_lock::held_by_other(const std::filesystem::path& lock_file) {
  const int fd = supervisor::os::open_cloexec(lock_file, O_RDONLY, 0);
  if (fd < 0) return false;  // no lock file: nobody ever ran here
  // A shared lock conflicts only with the daemon's exclusive one.
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

std::optional<int> read_pidfile(const std::filesystem::path& pid_file) {
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return std::nullopt;
  return static_cast<int>(pid);
}

bool write_pidfile(const std::filesystem::path& pid_file, int pid) {
  const auto tmp = std::filesystem::path(pid_file.string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pid << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, pid_file, ec);
  return !ec;
}

std::vector<supervisor::node_status> live_recorded_children(const state_paths& p) {
  std::vector<supervisor::node_status> live;
  auto st = supervisor::read_state_file(p.state);
  if (!st) return live;
  // Workers too: a daemon SIGKILLed on macOS (no parent-death signal) leaves them running.
  for (const auto* list : {&st->nodes, &st->workers}) {
    for (const auto& n : *list) {
      // Without a recorded start time we cannot tell our child from a recycled pid: leave it.
      if (n.pid && n.pid_start_time && supervisor::os::same_process_alive(*n.pid, n.pid_start_time)) live.push_back(n);
    }
  }
  return live;
}

std::vector<std::string> stop_recorded_children(const state_paths& p, std::chrono::milliseconds grace) {
  std::vector<std::string> stopped;
  const auto live = live_recorded_children(p);
  if (live.empty()) return stopped;
  for (const auto& n : live) {
    supervisor::os::signal_group(*n.pid, SIGTERM);
    supervisor::os::signal_group(*n.pid, SIGCONT);
  }
  // These are not our children: no wait status to await, so poll their existence.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  auto any_alive = [&] {
    for (const auto& n : live)
      if (supervisor::os::same_process_alive(*n.pid, n.pid_start_time)) return true;
    return false;
  };
  while (any_alive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  for (const auto& n : live) {
    std::string how = "SIGTERM";
    if (supervisor::os::same_process_alive(*n.pid, n.pid_start_time)) {
      supervisor::os::signal_group(*n.pid, SIGKILL);
      how = "SIGKILL";
      const auto kill_deadline = std::chrono::steady_clock::now() + 5s;
      while (supervisor::os::same_process_alive(*n.pid, n.pid_start_time) &&
             std::chrono::steady_clock::now() < kill_deadline)
        std::this_thread::sleep_for(10ms);
    }
    stopped.push_back("stopped " + n.name + " (pid " + std::to_string(*n.pid) + ", " + how +
                      ") left running by a daemon that did not exit cleanly");
  }
  return stopped;
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace openclawd::app
