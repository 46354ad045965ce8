// When the idle nodes' test completion is due (gateway/work_probe.hpp): never while a request
// is in flight, only after the node has been idle, sooner after a failed one, never when off.
#include "gateway/work_probe.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using openclawd::gateway::work_probe_due;
using openclawd::gateway::work_probe_settings;

TEST_CASE("work_probe_due: idle long enough and nobody asking, else not", "[work_probe]") {
  work_probe_settings s;
  s.idle_after = 300s;
  s.retry_after = 5s;
  const auto t0 = std::chrono::steady_clock::time_point{} + 1000h;
  CHECK_FALSE(work_probe_due(t0 + 299s, 0, t0, 0, s));  // not idle long enough
  CHECK(work_probe_due(t0 + 300s, 0, t0, 0, s));
  CHECK_FALSE(work_probe_due(t0 + 3000s, 1, t0, 0, s));  // a user's request is in flight
  CHECK(work_probe_due(t0 + 5s, 0, t0, 1, s));           // after a failure: retry_after
  CHECK_FALSE(work_probe_due(t0 + 4s, 0, t0, 1, s));
  s.idle_after = 0s;                                     // off
  CHECK_FALSE(work_probe_due(t0 + 3000s, 0, t0, 0, s));
  CHECK_FALSE(work_probe_due(t0 + 3000s, 0, t0, 2, s));
}
