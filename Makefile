# The two commands of the README, and their parts. Everything is idempotent.
#   make demo   set up, build, make tiny models, start the daemon with configs/demo.yaml, show status
#   make test   set up, build, run every test (ctest) against the real llama-server
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
OPENCLAWD  := $(BUILD)/app/openclawd
DEMO       := --config configs/demo.yaml
MODELS     := .deps/models

.PHONY: all setup configure build test bench demo demo-status demo-stop models clean

all: build

setup:
	scripts/setup.sh

configure: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

# Measured, not asserted: supervisor start/crash/stop times and the prompt cache over 30 turns.
bench: build
	python3 bench/supervisor_times.py --build $(BUILD)
	$(BUILD)/bench/openclawd-bench-prompt-cache --llama-server .deps/bin/llama-server --json bench/results/prompt_cache.json

# Tiny GGUF models ("hello": they answer "Hello, world!"): no model can be downloaded here,
# and the demo only needs something real llama-server loads and answers with. Swap in real
# exports by editing the YAML.
models: build
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

clean:
	rm -rf $(BUILD)
