# turnstile — build, test, benchmark.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 5s
# Length of `make soak`'s load; `make test` runs it with 2m.
SOAK    ?= 30m

.PHONY: all build run test deps vet xdp-gen xdp-check deps-check unit race fuzz bench-go deploy-check bench bench-xdp soak clean

all: build

build:
	$(GO) build -o bin/turnstile ./cmd/turnstile
	$(GO) build -o bin/turnstile-load ./cmd/turnstile-load

# The development relay: 127.0.0.1:3478 UDP+TCP, random secret, prints a credential.
run:
	$(GO) run ./cmd/turnstile

# Everything CI runs. Installs missing tools first (Debian packages).
test: deps vet xdp-check deps-check unit race fuzz bench-go deploy-check
	$(MAKE) soak SOAK=2m
	@echo "make test: all steps passed"

deps:
	bash scripts/deps.sh

# gofmt, go vet, a tidy go.mod, and the package graph of docs/architecture.md
# with its layering rules.
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff
	$(GO) test -count=1 ./internal/archtest

# The XDP fast path's BPF object (xdp/relay_bpfel.o) is generated from
# xdp/bpf/relay.c with clang 14 and committed, so a build needs no clang.
xdp-gen:
	bash scripts/xdp-gen.sh

# Regenerates it into a temporary directory and fails when the committed
# files differ.
xdp-check:
	bash scripts/xdp-check.sh

# The daemon links neither pion (the reference server of the interop tests and
# the benchmark) nor gonum (the load generator's charts).
deps-check: build
	@if $(GO) version -m bin/turnstile | grep -E '^[[:space:]]+(dep|=>)[[:space:]]+(github\.com/pion/|gonum\.org/)'; then \
		echo "deps-check: bin/turnstile links the modules above"; exit 1; fi

unit:
	$(GO) test -count=1 -timeout 15m $(PKGS)

# The concurrent cores and the shell under the race detector.
race:
	$(GO) test -count=1 -race -timeout 15m ./allocation/... ./auth/... ./peerpolicy/... ./internal/... ./relay/... ./metrics/... ./xdp/...

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz-smoke.sh

# Hot-path benchmarks, briefly, to show 0 allocs/op in the CI log.
bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=20000x ./relay/... ./gateway/... ./internal/... ./allocation/... ./xdp/

# turnstile, coturn and pion/turn side by side on loopback, the same loads
# against each (issue 6), a table of ratios; results in bin/bench/<time>/.
# BENCH_QUICK=1: a smoke run of two or three minutes. BENCH_FLAGS: more flags
# (e.g. -runs 3 -loads closed -servers turnstile,coturn; see -h).
bench:
	command -v turnserver >/dev/null || bash scripts/deps.sh
	$(GO) build -o bin/turnstile ./cmd/turnstile
	$(GO) build -o bin/pion-turn-server ./loadtest/pionserver/cmd/pion-turn-server
	$(GO) build -o bin/turnstile-bench ./bench/cmd/turnstile-bench
	bin/turnstile-bench -turnstile bin/turnstile -pion bin/pion-turn-server -out bin/bench $(if $(filter 1 true yes,$(BENCH_QUICK)),-quick) $(BENCH_FLAGS)

# Issue 14's speed profile (docs/xdp.md): turnstile's XDP fast path, its
# userspace path, coturn and no relay at all, the same realistic load
# through four network namespaces, 10 repetitions (about 5 minutes);
# needs root. BENCH_QUICK=1: one short repetition.
bench-xdp:
	command -v turnserver >/dev/null || bash scripts/deps.sh
	$(GO) build -o bin/turnstile ./cmd/turnstile
	$(GO) build -o bin/turnstile-load ./cmd/turnstile-load
	$(GO) build -o bin/turnstile-bench ./bench/cmd/turnstile-bench
	bin/turnstile-bench -loads xdp -turnstile bin/turnstile -load bin/turnstile-load -out bin/bench-xdp $(if $(filter 1 true yes,$(BENCH_QUICK)),-quick) $(BENCH_FLAGS)

# The relay binary under churn, relayed traffic over UDP/TCP/TLS, SIGHUP
# reloads, vanishing peers and clients that stop reading for SOAK (30m;
# 2m in make test); fails unless its memory, descriptors, goroutines and
# allocations stay flat after the warm-up and every cycle succeeds. Result,
# plot and relay log in bin/soak/<time>/ (docs/soak.md).
soak:
	$(GO) build -o bin/turnstile ./cmd/turnstile
	$(GO) build -o bin/turnstile-soak ./soak/cmd/turnstile-soak
	bin/turnstile-soak -relay bin/turnstile -out bin/soak -duration $(SOAK) -label "$$(git describe --always --dirty 2>/dev/null || echo unknown)"

deploy-check:
	bash deploy/check/run.sh

clean:
	rm -rf bin
