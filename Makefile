# The two commands of the README: `make run` and `make test`.
GO ?= go
FUZZTIME ?= 50000x

.PHONY: run test deps vet fuzz bench screenshots

## run: serve the flagship example, examples/nearby, on http://127.0.0.1:8080;
## its flags go in ARGS, e.g. make run ARGS="-bots 0 -addr 127.0.0.1:9090"
run:
	scripts/deps.sh run
	@echo "building examples/nearby (the first build downloads and compiles the dependencies: a minute or two)"
	$(GO) build -o bin/nearby ./examples/nearby
	@# In a terminal, the program runs as its own job (bash -m), which gets
	@# the terminal: Ctrl-C reaches it alone, it shuts down and exits 0,
	@# and make, not interrupted, reports no error.
	@if [ -t 0 ]; then bash -mc './bin/nearby "$$@"' nearby $(ARGS); else ./bin/nearby $(ARGS); fi

## test: install what the tests need, then vet, race-test and fuzz briefly
test: deps vet
	VICINITY_REQUIRE_NODE=1 $(GO) test -race -count=1 ./...
	cd metrics/prometheus && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	$(MAKE) fuzz

deps:
	scripts/deps.sh test

## screenshots: refresh the README's pictures of the nearby example,
## docs/screenshots/nearby-desktop.png and nearby-phone.png, which its
## browser test takes (at desktop size and on a phone) when
## NEARBY_SCREENSHOTS names a directory
screenshots: deps
	mkdir -p docs/screenshots
	NEARBY_SCREENSHOTS=$(CURDIR)/docs/screenshots VICINITY_REQUIRE_NODE=1 $(GO) test -count=1 -run '^TestBrowser$$' ./examples/nearby/

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## fuzz: run every fuzz target for FUZZTIME, a count of executions: a
## duration races Go 1.26's fuzzing coordinator, which then fails the target
## with "context deadline exceeded" on a loaded machine (golang/go#75804,
## fixed in Go 1.27); a new input is minimized for at most a second
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target"; \
	    $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=1s $$pkg || exit 1; \
	  done; \
	done

## bench: the benchmarks quoted in the README, then the load tool's quick
## scenarios on every target (LOAD_TARGETS=vicinity for vicinity alone; the
## issue's sizes with LOAD_FLAGS=-large, or e.g. LOAD_FLAGS='-scenarios idle
## -idle 10000,19000 -repeat 3'; see go doc ./cmd/vicinity-load)
LOAD_TARGETS ?= all
LOAD_FLAGS ?=
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	scripts/deps.sh load
	$(GO) run ./cmd/vicinity-load -targets $(LOAD_TARGETS) $(LOAD_FLAGS)
