#pragma once
// Loopback ports for the servers tests, benchmarks and the soak start as child processes
// (a child must be told its port, docs/style.md; in-process servers keep their acceptor).
//
// Not the kernel's bind-to-0 pick: that port comes from the ephemeral range, the range every
// outgoing connection takes its local port from, so under `ctest -j` another test's client
// could hold it before the server binds it, or while `doctor` checks it (CI failed once so;
// a node restarted on its port in the soak has the same window). Instead: a port outside the
// ephemeral range, unbound now, and claimed for this process's lifetime by an flock on
// $TMPDIR/openclawd-test-ports/<port>, which every other process using this file honours. The
// kernel drops the claim when the process ends, however it ends. A different port every call.

#include <optional>
#include <string>

namespace openclawd::test {

// The port, or nullopt with `why` when none could be found.
std::optional<int> claim_loopback_port(std::string* why = nullptr);

}  // namespace openclawd::test
