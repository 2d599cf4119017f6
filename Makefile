# invitegate: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/invitegate
PKGS      := ./...
DEMO_APP  ?= 1400000000
POLICY    ?= deploy/policy/example.yaml
TEST_TIMEOUT ?= 14m

.PHONY: all build run test vet fmt-check bench bench-projector bench-analytics fuzz clean

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

bench: ## Go benchmarks of the decision and the handler
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./decider ./ingress

fuzz: ## fuzz the request parser and the policy compiler for a minute each
	$(GO) test -run '^$$' -fuzz FuzzParseCallback -fuzztime 60s ./ingress
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 60s ./decider

clean:
	rm -rf bin .data

docs: ## regenerate README.md's configuration reference from the flags
	$(GO) run ./cmd/invitegate docs README.md

.PHONY: bench-policy
bench-policy: ## policy log bars: propagation p99 (3 replicas), 1,000,000-id list add, decisions on it, restart with 100,000 events
	$(GO) test -run '^$$' -bench 'BenchmarkPropagation' -benchtime 300x ./ingress/policyfeed
	$(GO) test -run '^$$' -bench 'BenchmarkRestart' -benchtime 3x -timeout 20m ./ingress/policyfeed
	$(GO) test -run '^$$' -bench 'BenchmarkListAddMillion' -benchtime 1x -timeout 20m ./cmd/invitegate
	$(GO) test -run '^$$' -bench 'BenchmarkDecideEventList|BenchmarkFoldListEvent|BenchmarkEventListHeap|BenchmarkReadState' -benchmem ./decider
