#!/bin/sh
# `make demo` builds what it runs (the daemon and the model maker), not the tests and
# benchmarks: `make test` builds those. Checked two ways: the Makefile's demo asks the build
# for exactly those two targets and never for everything, and what those targets need
# compiles no file from tests/, bench/ or fuzz/.
# usage: demo_targets_test.sh SOURCE_DIR BUILD_DIR NINJA
set -eu
src=$1 build=$2 ninja=$3
fail() { echo "FAIL: $*" >&2; exit 1; }

# make -n prints the recipe lines without running them (setup.sh, cmake and the daemon included).
plan=$(make -n -C "$src" demo BUILD="$build" JOBS=2 2>/dev/null) || fail "make -n demo failed"
builds=$(printf '%s\n' "$plan" | grep 'cmake --build' || true)
[ -n "$builds" ] || fail "make demo builds nothing"
printf '%s\n' "$builds" | while IFS= read -r line; do
  case "$line" in
    *"--target openclawd openclawd-make-model") ;;
    *) fail "make demo builds more than the daemon and the model maker: $line" ;;
  esac
done

# Everything those two targets compile or link.
steps=$("$ninja" -C "$build" -t commands openclawd openclawd-make-model) || fail "ninja -t commands failed"
extra=$(printf '%s\n' "$steps" | grep -E -- ' -o (tests|bench|fuzz)/' || true)
[ -z "$extra" ] || fail "building the demo compiles test or benchmark code: $(printf '%s\n' "$extra" | head -3)"
all=$("$ninja" -C "$build" -t commands all | wc -l)
echo "make demo: $(printf '%s\n' "$steps" | wc -l) build steps of $all; none from tests/, bench/ or fuzz/"
