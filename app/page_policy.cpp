#include "app/page_policy.hpp"

#include "core/log.hpp"

#include <cstdlib>
#include <string_view>

namespace openclawd::app {

net::address_policy page_policy_of(const core::config& cfg) {
  net::address_policy p;
  p.allow_http = cfg.pages.allow_http;
  auto block = [&](int port) {
    if (port > 0 && port < 65536) p.blocked_ports.insert(static_cast<std::uint16_t>(port));
  };
  block(cfg.admin.port);
  for (const auto& n : cfg.nodes) block(n.port);
  for (const auto& w : cfg.workers) block(w.remote.empty() ? w.port : 0);
  const char* test = std::getenv("OPENCLAWD_TEST_PAGES_LOOPBACK");
  if (test != nullptr && std::string_view(test) == "1") {
    p.allow_loopback = true;
    core::log_warn("pages", "OPENCLAWD_TEST_PAGES_LOOPBACK=1: pages on 127.0.0.1 may be read (a test setting; "
                            "never set it on a machine in use)");
  }
  return p;
}

}  // namespace openclawd::app
