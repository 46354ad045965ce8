// How much longer than a plain build a sanitizer build (make test-sanitize: Debug + ASan +
// UBSan; make test-tsan) may take: tests multiply their wall-clock bounds by it, so that a bound
// still catches an algorithm gone quadratic without failing on the sanitizers' own cost.
// Constant, no state.
#pragma once

namespace openclawd::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int time_scale = 10;
#else
inline constexpr int time_scale = 1;
#endif

}  // namespace openclawd::test
