# The two commands of the README, and their parts. Everything is idempotent.
#   make demo   set up, build the daemon and the model maker (only those), make tiny models,
#               start the daemon with configs/demo.yaml, show status
#   make test   set up, build everything (tests, benchmarks), run every test (ctest) against the real llama-server
# Hostile input (docs/testing.md):
#   make test-sanitize   the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-tsan       the tests that run a second thread, under ThreadSanitizer
#   make fuzz            the libFuzzer targets in fuzz/ (clang), FUZZ_SECONDS each
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
OPENCLAWD  := $(BUILD)/app/openclawd
DEMO       := --config configs/demo.yaml
MODELS     := .deps/models
# CI=true (.ci/run sets it) makes warnings errors in the project's own code.
WERROR     ?= $(if $(filter true 1 yes,$(CI)),ON,OFF)
# Extra cmake configure arguments for every build, e.g. -DCMAKE_CXX_COMPILER_LAUNCHER=ccache.
CMAKE_ARGS ?=

.PHONY: all setup configure build build-demo test bench soak soak-families demo demo-status demo-stop models clean \
        test-sanitize test-tsan fuzz fuzz-build

all: build

setup:
	scripts/setup.sh

configure: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DOPENCLAWD_WERROR=$(WERROR) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# What the demo runs, and nothing else: the daemon and the model maker are about half of the
# build's steps (72 of 145 on this tree); the tests and benchmarks are the rest, for `make test`.
# tests/build/demo_targets_test.sh checks that no test or benchmark code comes in with them.
DEMO_TARGETS := openclawd openclawd-make-model
build-demo: configure
	cmake --build $(BUILD) -j $(JOBS) --target $(DEMO_TARGETS)

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

# Measured, not asserted (bench/README.md): the gateway's own cost per message (the real daemon,
# the fake Bot API, instant url: nodes), its memory, start -> first poll, the prompt cache over
# 30 turns and the supervisor's crash times; medians, a table, bench/results/latest.json and
# latest.png (gnuplot, installed by OPENCLAWD_SETUP_BENCH=1). BENCH_ARGS=--quick: a short run.
BENCH_ARGS ?=
bench: build
	OPENCLAWD_SETUP_BENCH=1 scripts/setup.sh || echo "make bench: gnuplot could not be installed; the plot will be skipped"
	python3 bench/run_bench.py --build $(BUILD) $(BENCH_ARGS)

# The fault soak (bench/README.md): random node crashes and stops, the <unused50> model, Telegram
# errors and blocked search for SOAK_SECONDS while chats talk to the daemon; fails on a lost or
# doubled message, a leftover process, fd/memory growth or an inconsistent store. CI: 120 s.
SOAK_SECONDS ?= 120
SOAK_ARGS    ?=
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/tests/soak/openclawd-soak --openclawd $(abspath $(OPENCLAWD)) \
	  --llama-server $(CURDIR)/.deps/bin/llama-server --json bench/results/soak.json $(SOAK_ARGS)

# The same faults with tiny models that carry real families' tokenizers and templates (Gemma 3
# orchestrator, Qwen3 thinking subagent, a Gemma export stuck on CONTROL <unused50>).
soak-families: build
	SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/tests/soak/openclawd-soak --openclawd $(abspath $(OPENCLAWD)) \
	  --llama-server $(CURDIR)/.deps/bin/llama-server --real-vocab $(BUILD)/tests/models \
	  --json bench/results/soak-families.json $(SOAK_ARGS)

# Tiny GGUF models ("hello": they answer "Hello, world!"): no model can be downloaded here,
# and the demo only needs something real llama-server loads and answers with. Swap in real
# exports by editing the YAML.
models: build-demo
	mkdir -p $(MODELS)
	test -f $(MODELS)/demo-orchestrator.gguf || $(BUILD)/app/openclawd-make-model --kind hello $(MODELS)/demo-orchestrator.gguf
	test -f $(MODELS)/demo-subagent.gguf || $(BUILD)/app/openclawd-make-model --kind hello $(MODELS)/demo-subagent.gguf

demo: models
	$(OPENCLAWD) start $(DEMO)
	$(OPENCLAWD) status $(DEMO)
	@echo
	@echo "The daemon keeps running. Try: $(OPENCLAWD) chat $(DEMO)   or   make demo-stop"

demo-status:
	$(OPENCLAWD) status $(DEMO)

demo-stop:
	$(OPENCLAWD) stop $(DEMO)

# The whole suite, instrumented with ASan + UBSan (GCC), in its own build directory. Debug:
# an -O2 sanitizer build costs ~2.7x the compile time, and the suite's time is spent waiting on
# llama-server either way. The spawned llama-server is not instrumented; openclawd is. Any
# sanitizer report from any process (daemons included) fails the run (tests/sanitizers/).
ASAN_BUILD ?= build-asan
test-sanitize: setup
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOPENCLAWD_SANITIZE=address,undefined \
	  -DOPENCLAWD_BUILD_BENCH=OFF -DOPENCLAWD_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	tests/sanitizers/run_ctest.sh $(ASAN_BUILD) address -j $(JOBS) --output-on-failure

# ThreadSanitizer, only for the test programs that run a second thread (the in-process servers
# of tests/support, the Telegram channel rig's io thread, the store's log syncer); the daemon
# itself has one event loop thread and the log syncer's.
TSAN_BUILD ?= build-tsan
TSAN_TESTS := openclawd_supervisor_tests openclawd_pipeline_tests openclawd_tools_tests openclawd_telegram_tests \
              openclawd_gateway_tests openclawd_models_tests openclawd_pages_tests
test-tsan: setup
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOPENCLAWD_SANITIZE=thread \
	  -DOPENCLAWD_BUILD_BENCH=OFF -DOPENCLAWD_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TESTS) openclawd openclawd_test_child openclawd-make-model
	tests/sanitizers/run_ctest.sh $(TSAN_BUILD) thread -j $(JOBS) --output-on-failure \
	  -R '^(supervisor|pipeline|tools|telegram|models|pages):|^gateway:log_syncer'

# libFuzzer targets (fuzz/README.md): clang + ASan + UBSan, core and the parsers only.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= $(JOBS)
FUZZ_CXX     ?= clang++
fuzz-build:
	OPENCLAWD_SETUP_FUZZ=1 scripts/setup.sh
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DOPENCLAWD_FUZZ=ON -DOPENCLAWD_SANITIZE=address,undefined -DOPENCLAWD_WERROR=$(WERROR) $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: fuzz-build
	fuzz/run.sh -b $(FUZZ_BUILD) -t $(FUZZ_SECONDS) -j $(FUZZ_JOBS)

clean:
	rm -rf $(BUILD)
