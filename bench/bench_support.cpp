#include "bench/bench_support.hpp"

#include "tests/support/ports.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

namespace openclawd::bench {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& p, const std::string& text, unsigned mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ::chmod(p.c_str(), static_cast<mode_t>(mode));
}

proc_sample sample_process(pid_t pid) {
  proc_sample s;
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string stat = slurp(base + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string t; fields >> t;) f.push_back(t);
  // Fields from 3 (state) on: utime is field 14, stime 15, num_threads 20 (proc(5)).
  if (f.size() < 18) return s;
  const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  s.cpu_ms = (std::stod(f[11]) + std::stod(f[12])) * tick_ms;
  s.threads = std::stoi(f[17]);
  std::istringstream status(slurp(base + "/status"));
  for (std::string line; std::getline(status, line);) {
    auto value = [&](const char* key) -> std::optional<double> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      return std::strtod(line.c_str() + std::char_traits<char>::length(key), nullptr);
    };
    if (auto v = value("VmRSS:")) s.rss_kib = *v;
    if (auto v = value("VmHWM:")) s.hwm_kib = *v;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(base + "/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++s.fds;
  s.ok = true;
  return s;
}

int free_port() {
  std::string why;
  if (const auto port = test::claim_loopback_port(&why)) return *port;
  throw std::runtime_error(why);
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return ::kill(pid, 0) == 0;  // no /proc: best effort
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  const char state = stat[close + 2];
  return state != 'Z' && state != 'X';
}

std::vector<pid_t> processes_with(const std::string& needle) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    std::string cmd = slurp(it->path() / "cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos && process_alive(pid)) out.push_back(pid);
  }
  return out;
}

namespace {

pid_t fork_exec(const std::vector<std::string>& argv_s, int out, int err, const std::map<std::string, std::string>& env) {
  std::vector<char*> argv;
  std::vector<std::string> copy = argv_s;
  for (auto& s : copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

bool healthy(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    ::send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
    char buf[32] = {};
    ok = ::recv(fd, buf, sizeof buf - 1, 0) > 12 && std::strncmp(buf, "HTTP/1.1 200", 12) == 0;
  }
  ::close(fd);
  return ok;
}

llama_child::llama_child(std::string program, std::vector<std::string> args)
    : program_(std::move(program)), args_(std::move(args)), port_(free_port()) {}

llama_child::~llama_child() { stop(); }

bool llama_child::start() {
  std::vector<std::string> argv{program_, "--host", "127.0.0.1", "--port", std::to_string(port_)};
  argv.insert(argv.end(), args_.begin(), args_.end());
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  pid_ = fork_exec(argv, null, null, {});
  ::close(null);
  for (int i = 0; i < 1200; ++i) {
    if (healthy(port_)) return true;
    if (!process_alive(pid_)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void llama_child::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

pid_t spawn_command(const std::vector<std::string>& argv, const std::filesystem::path& out,
                    const std::filesystem::path& err, const std::map<std::string, std::string>& env) {
  const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t pid = fork_exec(argv, o, e, env);
  ::close(o);
  ::close(e);
  return pid;
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (w < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

command_result run_command(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                           const std::map<std::string, std::string>& env) {
  char out_name[] = "/tmp/openclawd-bench-out-XXXXXX";
  char err_name[] = "/tmp/openclawd-bench-err-XXXXXX";
  const int o = ::mkstemp(out_name);
  const int e = ::mkstemp(err_name);
  const pid_t pid = fork_exec(argv, o, e, env);
  command_result r;
  if (auto code = wait_exit(pid, deadline)) {
    r.exit_code = *code;
  } else {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  ::close(o);
  ::close(e);
  r.out = slurp(out_name);
  r.err = slurp(err_name);
  ::unlink(out_name);
  ::unlink(err_name);
  return r;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double load_average() {
  double l[3] = {0, 0, 0};
  if (::getloadavg(l, 3) < 1) return 0;
  return l[0];
}

nlohmann::json machine_info() {
  nlohmann::json m;
  std::string cpu;
  std::istringstream info(slurp("/proc/cpuinfo"));
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  m["cpu"] = cpu;
  m["cores"] = std::thread::hardware_concurrency();
  double mem_kib = 0;
  std::istringstream meminfo(slurp("/proc/meminfo"));
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemTotal:", 0) == 0) mem_kib = std::strtod(line.c_str() + 9, nullptr);
  }
  m["ram_gib"] = static_cast<double>(static_cast<long>(mem_kib / 1024.0 / 1024.0 * 10 + 0.5)) / 10;
  std::string os;
  std::istringstream rel(slurp("/etc/os-release"));
  for (std::string line; std::getline(rel, line);) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      os = line.substr(12);
      std::erase(os, '"');
    }
  }
  utsname u{};
  ::uname(&u);
  m["os"] = os.empty() ? std::string(u.sysname) : os;
  m["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  m["load_avg_1m"] = load_average();
  return m;
}

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace openclawd::bench
