// What the page-reading tool may reach on this machine: never the daemon's own ports (the
// admin endpoint, the nodes, the RPC workers), never private or loopback addresses. The one
// exception is for the test suite, whose fake sites live on 127.0.0.1: the environment
// variable OPENCLAWD_TEST_PAGES_LOOPBACK=1 allows loopback (still not the daemon's ports) and
// is logged as a warning. It is deliberately not a config key: a config file is copied around
// and edited; an environment variable set for a test run is not. Used by the daemon and by
// `openclawd read`.
#pragma once

#include "core/config.hpp"
#include "net/address_policy.hpp"

namespace openclawd::app {

net::address_policy page_policy_of(const core::config& cfg);

}  // namespace openclawd::app
