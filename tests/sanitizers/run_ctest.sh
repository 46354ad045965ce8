#!/usr/bin/env bash
# Runs ctest in a sanitizer build (make test-sanitize, make test-tsan) with the sanitizers'
# options, and fails if any process wrote a sanitizer report. Reports go to files, not stderr,
# because the daemons the tests start write their stderr to a log the test then deletes: a leak
# found when a daemon exits would otherwise pass unseen. The reports are printed at the end.
#
#   tests/sanitizers/run_ctest.sh BUILD_DIR address|thread [ctest arguments...]
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "$1" && pwd)"
kind="$2"
shift 2
logs="$build/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"

case "$kind" in
  address)
    # abort_on_error=0: exit with an error code rather than a core dump; LSan runs at every exit.
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logs/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
    export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
    ;;
  thread)
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tsan.supp:log_path=$logs/tsan"
    ;;
  *)
    echo "usage: $0 BUILD_DIR address|thread [ctest arguments...]" >&2
    exit 2
    ;;
esac

(cd "$build" && ctest "$@")
rc=$?

shopt -s nullglob
reports=("$logs"/*)
if [ "${#reports[@]}" -gt 0 ]; then
  for f in "${reports[@]}"; do
    printf '\n=== %s\n' "$f"
    cat "$f"
  done
  printf '\nsanitizers: %d report(s) above (%s)\n' "${#reports[@]}" "$logs"
  [ "$rc" -ne 0 ] || rc=1
else
  echo "sanitizers: no reports"
fi
exit "$rc"
