# invitegate: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/invitegate
PKGS      := ./...
DEMO_APP  ?= 1400000000
POLICY    ?= deploy/policy/example.yaml
TEST_TIMEOUT ?= 14m

.PHONY: all build run test vet fmt-check bench bench-go bench-projector bench-analytics fuzz clean

all: build

build: ## build bin/invitegate
	$(GO) build -trimpath -o $(BIN) ./cmd/invitegate

run: build ## every role in one process: callback on 127.0.0.1:8080, admin on :9090, embedded NATS
	./$(BIN) run --sdkappid $(DEMO_APP) --policy $(POLICY) --log-format text

test: vet fmt-check ## the whole test suite (needs PostgreSQL on 127.0.0.1:5432; NATS is embedded)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: bench-go bench-compare ## Go benchmarks, then the side-by-side comparison (writes deploy/bench/<date>-compare.md)

bench-go: ## Go benchmarks: the decision (50 members, 10 rules, 1M list), the handler, parsing, event encoding and the outbox
	$(GO) test -run '^$$' -bench 'Decide|AppendEvent' -benchmem -benchtime 2s ./decider
	$(GO) test -run '^$$' -bench 'Handler|ParseBody' -benchmem -benchtime 2s ./ingress
	$(GO) test -run '^$$' -bench 'Enqueue$$' -benchmem ./ingress/outbox

bench-projector: ## projector drain rate: pre-filled stream -> PostgreSQL, events/s and CPU per event
	$(GO) run ./cmd/invitegate-dev bench projector --events 200000

bench-analytics: ## load 10M invite events over 30 days (kept in invitegate_bench_analytics) and time the analyst queries
	$(GO) run ./cmd/invitegate-dev bench analytics

fuzz: ## fuzz the request parsers, the event encoder and decoder and the policy compiler for a minute each
	$(GO) test -run '^$$' -fuzz '^FuzzParseBody$$' -fuzztime 60s ./ingress
	$(GO) test -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime 60s ./ingress
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime 60s ./decider
	$(GO) test -run '^$$' -fuzz '^FuzzAppendEvent$$' -fuzztime 60s ./decider
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime 60s ./decider

clean:
	rm -rf bin .data

docs: ## regenerate the configuration reference (cmd/invitegate/README.md) from the flags
	$(GO) run ./cmd/invitegate docs cmd/invitegate/README.md

# --- Proofs: fault suite, soak, side-by-side benchmarks. Knobs are environment
# variables (see cmd/internal/faults/cluster_test.go):
# FAULTS_FUZZ_BODIES (1000000), FAULTS_RATE (300/s), FAULTS_OUTAGE (30s),
# FAULTS_PROJECTOR_KILLS (10), FAULTS_DRAIN (3m), FAULTS_MAX_RSS_MB (512).
FAULTS_LOG ?= $(or $(TMPDIR),/tmp)/invitegate-faults.log
FAULTS_PARALLEL ?= 2

.PHONY: test-faults soak bench-compare

test-faults: ## fault suite: 11 scenarios under load (nats-server, ingress, projector as child processes; PostgreSQL)
	@echo "fault suite: log in $(FAULTS_LOG)"
	@$(GO) test -tags faults -count=1 -timeout 40m -v -parallel $(FAULTS_PARALLEL) -run '^TestFault' ./cmd/internal/faults \
		> $(FAULTS_LOG) 2>&1; status=$$?; \
	grep -E '^(faults: |--- |FAIL|ok |panic)|Error:|Messages:' $(FAULTS_LOG); exit $$status

soak: ## 30 min at 1,000 callbacks/s: heap, goroutines, fds and p99 flat, zero loss (not in CI)
	$(GO) test -tags soak -count=1 -timeout 50m -v -run '^TestSoak$$' ./cmd/internal/faults

.PHONY: bench-throttle
bench-throttle: ## stats bar: time to throttle a flooder under 2,000 callbacks/s of loadgen background, separate processes (THROTTLE_RATE, THROTTLE_ROUNDS)
	@$(GO) test -tags soak -count=1 -timeout 20m -v -run '^TestThrottle$$' ./cmd/internal/faults > $(FAULTS_LOG) 2>&1; status=$$?; \
	grep -E '^(throttle: |--- |FAIL|ok |panic)|Error:|Messages:' $(FAULTS_LOG); exit $$status

bench-compare: ## side by side in one run: ingress events on/off, bare net/http, OPA; end-to-end p99; writes deploy/bench/<date>-compare.md
	$(GO) run ./cmd/invitegate-dev compare

.PHONY: bench-replay
bench-replay: ## policy replay: load REPLAY_EVENTS (10,000,000) invites into invitegate_bench_replay once, then replay them all with a candidate; invites/s and peak heap
	$(GO) test -run '^$$' -bench 'BenchmarkReplay$$' -benchtime 1x -timeout 90m -v ./cmd/internal/replay

.PHONY: bench-policy
bench-policy: ## policy log bars: propagation p99 (3 replicas), 1,000,000-id list add, decisions on it, restart with 100,000 events
	$(GO) test -run '^$$' -bench 'BenchmarkPropagation' -benchtime 300x ./ingress/policyfeed
	$(GO) test -run '^$$' -bench 'BenchmarkRestart' -benchtime 3x -timeout 20m ./cmd/invitegate
	$(GO) test -run '^$$' -bench 'BenchmarkListAddMillion' -benchtime 1x -timeout 20m ./cmd/invitegate
	$(GO) test -run '^$$' -bench 'BenchmarkDecideEventList|BenchmarkFoldListEvent|BenchmarkEventListHeap|BenchmarkReadState' -benchmem ./decider

# --- The three-node cluster: nats-server children clustered from the shipped
# deploy/k8s/base/nats.conf, streams R3, two ingresses and two projectors as
# the shipped users, six scenarios under 2,000 callbacks/s (8 to 11 min).
# Knobs (cmd/internal/faults/r3_test.go): CLUSTER_RATE, CLUSTER_WARMUP,
# CLUSTER_COOLDOWN, CLUSTER_KILL_FOR, CLUSTER_FREEZE, CLUSTER_QUORUM_LOSS,
# CLUSTER_POLICY_CHANGES, CLUSTER_PROJECTOR_AFTER, CLUSTER_LOG_DIR.
CLUSTER_LOG ?= $(or $(TMPDIR),/tmp)/invitegate-cluster.log

.PHONY: test-cluster test-cluster-short

test-cluster: ## the three-node cluster scenarios under load, as the shipped configuration runs them
	@echo "cluster suite: log in $(CLUSTER_LOG)"
	@$(GO) test -tags cluster -count=1 -timeout 60m -v -p 1 -run '^TestCluster' ./cmd/internal/faults \
		> $(CLUSTER_LOG) 2>&1; status=$$?; \
	grep -E '^(cluster: |--- |FAIL|ok |panic)|Error:|Messages:' $(CLUSTER_LOG); exit $$status

test-cluster-short: ## the same scenarios and checks with shorter holds (what .ci/run affords)
	@CLUSTER_WARMUP=$${CLUSTER_WARMUP:-5s} CLUSTER_COOLDOWN=$${CLUSTER_COOLDOWN:-8s} \
	CLUSTER_KILL_FOR=$${CLUSTER_KILL_FOR:-10s} CLUSTER_FREEZE=$${CLUSTER_FREEZE:-15s} \
	CLUSTER_QUORUM_LOSS=$${CLUSTER_QUORUM_LOSS:-20s} \
	CLUSTER_POLICY_CHANGES=$${CLUSTER_POLICY_CHANGES:-10} CLUSTER_PROJECTOR_AFTER=$${CLUSTER_PROJECTOR_AFTER:-10s} \
	$(MAKE) --no-print-directory test-cluster

.PHONY: bench-cluster
bench-cluster: ## the cluster topology's costs: µs of CPU per callback (ingress), per event stored R3+fsync (NATS), per event projected (projector, PostgreSQL); drain rates of one and two projectors
	@$(GO) test -tags cluster -count=1 -timeout 30m -v -run '^TestR3Capacity$$' ./cmd/internal/faults > $(CLUSTER_LOG) 2>&1; status=$$?; \
	grep -E '^(cluster: |--- |FAIL|ok |panic)|Error:|Messages:' $(CLUSTER_LOG); exit $$status
