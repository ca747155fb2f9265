# umt — the two commands a fresh Debian 12 machine needs are `make demo` and `make test`;
# both run scripts/setup.sh first (idempotent, fast when everything is present).
SHELL := /bin/bash
GO ?= go
BIN := bin
# Tests that need minutes (soaks, 200-loop leak checks, full corpus on every runner) run only
# with UMT_SOAK=1, through `make soak`.
TEST_TIMEOUT ?= 25m

.PHONY: setup demo test soak bench bench-stage2 build worker lint fuzz clean

setup:
	@bash scripts/setup.sh

build: setup
	$(GO) build -o $(BIN)/umt ./cmd/umt

# Runs the main job (prep) on the bundled sample, locally on Prism, then a few stage-1 and
# stage-2 training steps and zero-shot retrieval on what it wrote (scripts/demo.sh).
demo: setup
	@bash scripts/demo.sh

# The test command CI runs (.ci/run). -p 2 matches the 2-core machines this project runs on.
test: setup
	$(GO) test -p 2 -timeout $(TEST_TIMEOUT) ./...

# Long soaks: leak loops, the whole corpus on every runner, kill-and-resume on GCS.
soak: setup
	UMT_SOAK=1 $(GO) test -p 1 -timeout 120m ./...

# Benchmarks (go test -bench) of every package; results go to docs/BENCHMARKS.md by hand,
# with the machine and the comparison run side by side.
bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./... | tee $(BIN)/bench.txt

# Stage-2 step, Go vs PyTorch CPU (Debian python3-torch), interleaved rounds: ROUNDS, THREADS.
ROUNDS ?= 3
THREADS ?= 2
bench-stage2: setup
	bash bench/stage2_compare.sh $(ROUNDS) $(THREADS)

# Fuzz every fuzz target for FUZZTIME each (default 30s).
FUZZTIME ?= 30s
fuzz: setup
	@bash scripts/fuzz.sh $(FUZZTIME)

# The linux/amd64 cgo worker binary that remote runners (Dataflow, Flink) stage with
# --worker_binary; see docs/RUNNERS.md and runners/container/Dockerfile.
worker: setup
	@bash scripts/build-worker.sh

lint:
	$(GO) test -run 'TestHouseRules' -count=1 ./internal/lint

clean:
	rm -rf $(BIN)
