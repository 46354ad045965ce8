// Helpers shared by the benchmarks and the fault soak: reading a process's cost from /proc,
// ports, running the `openclawd` CLI as a child, finding leftover processes, percentiles and
// a description of the machine. Plain blocking code for the driver's own thread; nothing here
// is used by the daemon. Linux (/proc) for the numbers; elsewhere they read as zero.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace openclawd::bench {

// One look at a process: CPU time (user + system, from /proc/<pid>/stat), memory
// (/proc/<pid>/status VmRSS and VmHWM) and open file descriptors (/proc/<pid>/fd).
struct proc_sample {
  bool ok = false;           // the process existed and /proc could be read
  double cpu_ms = 0;         // utime + stime
  double rss_kib = 0;        // VmRSS
  double hwm_kib = 0;        // VmHWM (peak RSS)
  int fds = 0;
  int threads = 0;
};
proc_sample sample_process(pid_t pid);

// A loopback port for a child process that must be told its port (docs/style.md), claimed for
// this process's lifetime: tests/support/ports.hpp says why not the kernel's bind-to-0 pick.
// In-process servers keep their acceptor instead.
int free_port();

// True while `pid` exists and is not a zombie.
bool process_alive(pid_t pid);

// Processes (other than this one) whose command line contains `needle`, e.g. a temporary
// directory that only this run's children have in their argv.
std::vector<pid_t> processes_with(const std::string& needle);

struct command_result {
  int exit_code = -1;  // -1: killed at the deadline
  std::string out, err;
};
// Runs argv (argv[0] a path) with stdin from /dev/null, waits at most `deadline`.
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds deadline = std::chrono::seconds(60),
                           const std::map<std::string, std::string>& env = {});
// Starts argv in the background with stdout/stderr to files; the caller reaps it (wait_exit).
pid_t spawn_command(const std::vector<std::string>& argv, const std::filesystem::path& out,
                    const std::filesystem::path& err, const std::map<std::string, std::string>& env = {});
// Waits for a child started by spawn_command; nullopt if the deadline passed (it keeps running).
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds deadline);

// A llama-server run by a benchmark on a claimed loopback port: `args` go after `--host
// 127.0.0.1 --port P`; its output is discarded. start() waits (at most a minute) for GET
// /health 200; stop() kills it (SIGKILL) and reaps it; so does the destructor. Restartable on
// the same port.
class llama_child {
 public:
  llama_child(std::string program, std::vector<std::string> args);
  ~llama_child();
  llama_child(const llama_child&) = delete;
  llama_child& operator=(const llama_child&) = delete;
  bool start();  // true once it answers /health with 200
  void stop();
  int port() const { return port_; }

 private:
  std::string program_;
  std::vector<std::string> args_;
  int port_;
  pid_t pid_ = -1;
};
// One blocking GET /health on 127.0.0.1:port: true on 200.
bool healthy(int port);

std::string slurp(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& text, unsigned mode = 0644);

// The q-quantile (0..1) by linear interpolation; 0 for an empty sample.
double percentile(std::vector<double> v, double q);

// CPU model, cores, RAM, OS, kernel, load average: printed and stored with every number.
nlohmann::json machine_info();
// 1-minute load average now (for "measured under load X").
double load_average();

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b);

}  // namespace openclawd::bench
