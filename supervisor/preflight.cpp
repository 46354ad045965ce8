#include "supervisor/preflight.hpp"

#include <algorithm>

#include "core/gguf.hpp"
#include "supervisor/os.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace openclawd::supervisor {

std::optional<std::string> port_unavailable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // no SOCK_CLOEXEC on macOS
  if (fd < 0) return std::string("cannot create a socket: ") + std::strerror(errno);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  // SO_REUSEADDR like llama-server's own HTTP server: a port in TIME_WAIT is usable,
  // a port somebody listens on is not.
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::optional<std::string> problem;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) problem = std::strerror(errno);
  ::close(fd);
  return problem;
}

std::vector<std::string> check_ports(const core::config& cfg) {
  std::vector<std::string> problems;
  for (const auto& n : cfg.nodes) {
    if (n.remote()) continue;  // its server listens elsewhere, and already should
    if (auto why = port_unavailable(n.port)) {
      problems.push_back("port " + std::to_string(n.port) + " of node " + n.name + " (nodes." + n.name +
                         ".port in " + cfg.source.string() + ") is already in use by another program (" + *why +
                         "); stop that program or choose another port");
    }
  }
  return problems;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void assess_memory(memory_report& r) {
  std::uint64_t total = 0;
  for (const auto& e : r.nodes) total += e.total();
  if (r.physical_bytes && total > *r.physical_bytes / 10 * 9) {
    r.warnings.push_back("the models need about " + format_bytes(total) +
                         " (weights, KV cache for ctx, prompt caches) but this machine has " + format_bytes(*r.physical_bytes) +
                         " of RAM: expect heavy swapping or an out-of-memory kill; lower ctx or use smaller quantizations");
  } else if (r.available_bytes && total > *r.available_bytes) {
    r.warnings.push_back("the models need about " + format_bytes(total) + " but only " +
                         format_bytes(*r.available_bytes) + " of RAM is available now: other programs may be swapped out");
  }
}

memory_report estimate_memory(const core::config& cfg) {
  memory_report r;
  r.physical_bytes = os::physical_memory_bytes();
  r.available_bytes = os::available_memory_bytes();
  for (const auto& n : cfg.nodes) {
    if (n.remote()) continue;  // another machine's memory (or another program's) pays for it
    memory_estimate e;
    e.node = n.name;
    // The model the node would run: the first that reads as GGUF (the supervisor falls over
    // past a broken export), else the configured one.
    const auto models = n.models();
    std::optional<core::gguf_info> info;
    auto model = n.model;
    for (const auto& m : models) {
      if (auto read = core::read_gguf_info(m)) {
        info = *read;
        model = m;
        break;
      }
    }
    std::error_code ec;
    e.weights_bytes = std::filesystem::file_size(model, ec);
    if (ec) e.weights_bytes = 0;
    if (info) {
      // llama-server caps each slot's context at the model's training context.
      int ctx = n.ctx;
      if (info->context_length > 0 && static_cast<std::uint64_t>(ctx) > info->context_length)
        ctx = static_cast<int>(info->context_length);
      const bool swa_full = std::find(n.extra_args.begin(), n.extra_args.end(), "--swa-full") != n.extra_args.end();
      const auto kv = core::estimate_kv_cache(*info, ctx, swa_full);
      e.kv_cache_bytes = kv.bytes;
      e.checkpoint_bytes = kv.checkpoint_bytes;
      e.kv_known = true;
    }
    e.prompt_cache_bytes = n.cache_ram;
    r.nodes.push_back(e);
  }
  assess_memory(r);
  return r;
}

}  // namespace openclawd::supervisor
