#!/usr/bin/env bash
# Runs the libFuzzer targets of a fuzz build (make fuzz; fuzz/README.md) for a bounded time each,
# from the seed corpus in fuzz/corpus/<name>/ with the dictionary fuzz/dict/<name>.dict, and prints
# one line per target: executions, executions per second, new inputs, peak memory.
# New inputs go to <build>/fuzz-work/<name>/corpus, never into the repository; a crash leaves its
# input in <build>/fuzz-work/<name>/artifacts/ and is printed here (CI keeps no files), and the
# script exits 1.
#
#   fuzz/run.sh [-b BUILD_DIR] [-t SECONDS] [-j PARALLEL] [TARGET...]
#     -b  the fuzz build directory (default build-fuzz)
#     -t  seconds per target (default $FUZZ_SECONDS, else 60)
#     -j  targets run at the same time (default $FUZZ_JOBS, else 1)
#     TARGET  fuzz_config, fuzz_sse, ... (default: every fuzz_* executable in BUILD_DIR/fuzz)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="build-fuzz"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
while getopts "b:t:j:" opt; do
  case "$opt" in
    b) build="$OPTARG" ;;
    t) seconds="$OPTARG" ;;
    j) jobs="$OPTARG" ;;
    *) sed -n '2,13p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
case "$build" in /*) ;; *) build="$repo_root/$build" ;; esac

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] && targets+=("$(basename "$bin")")
  done
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz/run.sh: no fuzz targets in $build/fuzz (run make fuzz-build)" >&2; exit 2; }

# Sanitizer reports must end the run (libFuzzer then saves the input) and be readable.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_one() {
  local name="$1" short="${1#fuzz_}"
  local bin="$build/fuzz/$name" work="$build/fuzz-work/$short"
  local seeds="$repo_root/fuzz/corpus/$short" dict="$repo_root/fuzz/dict/$short.dict"
  mkdir -p "$work/corpus" "$work/artifacts"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$work/artifacts/" "$work/corpus")
  [ -d "$seeds" ] && args+=("$seeds")
  # The tests' recorded pages are seeds too, read where they are rather than copied.
  [ "$short" = ddg ] && args+=("$repo_root/tests/fixtures/ddg")
  [ -f "$dict" ] && args=(-dict="$dict" "${args[@]}")
  "$bin" "${args[@]}" >"$work/log" 2>&1
}

stat_of() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }

report() {
  local name="$1" rc="$2" short="${1#fuzz_}"
  local work="$build/fuzz-work/$short"
  local log="$work/log"
  if [ "$rc" -eq 0 ]; then
    printf '%-22s ok    %10s runs  %7s exec/s  %5s new  %5s MiB  corpus %s\n' "$name" \
      "$(stat_of "$log" number_of_executed_units)" "$(stat_of "$log" average_exec_per_sec)" \
      "$(stat_of "$log" new_units_added)" "$(stat_of "$log" peak_rss_mb)" \
      "$(find "$work/corpus" -type f | wc -l | tr -d ' ')"
    return 0
  fi
  printf '%-22s FAILED (exit %s); the end of its log:\n' "$name" "$rc"
  tail -n 60 "$log" | sed 's/^/  | /'
  local crash
  for crash in "$work"/artifacts/*; do
    [ -f "$crash" ] || continue
    printf '  input %s (%s bytes), as a C string:\n' "$crash" "$(wc -c <"$crash" | tr -d ' ')"
    python3 - "$crash" <<'EOF' | sed 's/^/  | /'
import sys
data = open(sys.argv[1], "rb").read()[:4096]
line = ""
for b in data:
    line += chr(b) if 32 <= b < 127 and b not in (34, 92) else "\\x%02x" % b
    if len(line) >= 100 or b == 10:
        print('"' + line + '"')
        line = ""
if line:
    print('"' + line + '"')
EOF
    printf '  reproduce: %s %s\n' "$build/fuzz/$name" "$crash"
  done
  return 1
}

echo "fuzz: ${#targets[@]} targets, ${seconds} s each, ${jobs} at a time ($build)"
status=0
i=0
while [ "$i" -lt "${#targets[@]}" ]; do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for name in "${batch[@]}"; do
    [ -x "$build/fuzz/$name" ] || { echo "fuzz/run.sh: $build/fuzz/$name is not built" >&2; exit 2; }
    rm -rf "$build/fuzz-work/${name#fuzz_}/artifacts"
    run_one "$name" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    rc=0
    wait "${pids[$k]}" || rc=$?
    report "${batch[$k]}" "$rc" || status=1
  done
  i=$((i + jobs))
done
exit "$status"
