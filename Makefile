# zps: `make run` installs what is missing, builds in release mode and runs the default job on a
# local cluster; `make test` runs every test; `make bench` runs the benchmarks.
SWIFT     ?= swift
TOPOLOGY  ?= Topologies/local.yaml
DATA      := .build/data
SYNTHETIC := $(DATA)/synthetic-train.tsv
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES  := libzmq3-dev libsnappy-dev libmsgpack-dev pkg-config
# What the tests use beyond the build: network namespaces (iproute2) and a Slurm cluster made by
# the tests themselves (slurm-wlm, munge).
TEST_PACKAGES := iproute2 slurm-wlm munge

.PHONY: run test bench build deps test-deps install-packages python-deps clean fuzz

## deps: install the system libraries (Debian packages) that are missing
deps:
	@$(MAKE) --no-print-directory install-packages LIST="$(PACKAGES)"

## test-deps: the Debian packages the multi-host tests use
test-deps:
	@$(MAKE) --no-print-directory install-packages LIST="$(TEST_PACKAGES)"

install-packages:
	@missing=""; for p in $(LIST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

## python-deps: pyzmq, msgpack and numpy for the foreign-client test, with pip or else as Debian
## packages, and kubernetes-validate for the manifests in deploy/kubernetes. Where they cannot be had
## the tests are skipped; under CI (CI=true) that is an error
PYTHON_CHECK := python3 -c "import zmq, msgpack, numpy" 2>/dev/null
python-deps:
	@python3 -c "import kubernetes_validate" 2>/dev/null || python3 -m pip install --quiet kubernetes-validate >/dev/null 2>&1 || true; \
	python3 -c "import kubernetes_validate" 2>/dev/null || { \
	  if [ "$$CI" = true ]; then echo "error: CI=true and kubernetes-validate could not be installed" >&2; exit 1; fi; \
	  echo "note: kubernetes-validate unavailable; the manifest validation test will be skipped"; }
	@$(PYTHON_CHECK) || python3 -m pip install --quiet pyzmq msgpack numpy >/dev/null 2>&1 || true; \
	$(PYTHON_CHECK) || { $(if $(SUDO),$(SUDO) -n) apt-get install -y -q python3-zmq python3-msgpack python3-numpy >/dev/null 2>&1 || true; }; \
	$(PYTHON_CHECK) || { \
	  if [ "$$CI" = true ]; then echo "error: CI=true and python3 cannot import zmq, msgpack and numpy" >&2; exit 1; fi; \
	  echo "note: pyzmq/msgpack/numpy unavailable; the Python client test will be skipped"; }

## build: release build of zps and zps-bench
build: deps
	$(SWIFT) build -c release

## run: the default job on Topologies/local.yaml (1 manager, 2 servers, 2 workers): sparse logistic
## regression on a seeded synthetic click data set, generated once into .build/data
run: build $(SYNTHETIC)
	.build/release/zps run $(TOPOLOGY)

$(SYNTHETIC):
	@mkdir -p $(DATA)
	.build/release/zps generate --rows 100000 --test-rows 20000 --seed 1 \
	  --train $(DATA)/synthetic-train.tsv --test $(DATA)/synthetic-test.tsv

## test: unit tests, codec and corrupt-input tests, multi-process integration tests (one at a time:
## the integration tests start clusters whose deadlines must not race CPU-heavy unit tests)
test: deps test-deps python-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

## bench: throughput benchmarks against the C reference in ../shared/limits: the whole grid (table,
## bench/results/latest.{json,svg}); the shapes the targets name, with more repetitions and a verdict on
## each target (bench/results/targets.*); then the one-server, one-worker shapes of 1K and 100K keys
## with each node on a CPU of its own (bench/results/pinned.*); last, sparse LR on the shipped topology
## against Vowpal Wabbit on one core (bench/results/cost.*; VW is pip-installed into .build/vw-venv)
bench: build
	.build/release/zps-bench all --repetitions 3 --json bench/results/latest.json
	.build/release/zps-bench --targets --repetitions 11 --json bench/results/targets.json
	.build/release/zps-bench push-pull --keys 1000,100000 --inflight 1,8 --reference-shapes --pin --repetitions 5 \
		--json bench/results/pinned.json
	.build/release/zps-bench cost --repetitions 3 --json bench/results/cost.json

## fuzz: builds the libFuzzer targets of Fuzz/Sources (ZPS_FUZZ=1, `--sanitize fuzzer` with
## AddressSanitizer, in a scratch path of their own) and runs each for FUZZ_SECONDS from its seeds in
## Fuzz/corpus; a crash, a memory error, a broken invariant or an allocation of 256 MB or more fails
## the run, and the input that caused it is left in .build/fuzz/artifacts
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := FuzzHeaderCodec FuzzMessage FuzzNodeTable FuzzKeyCache FuzzSnappy FuzzTopology FuzzServerMachine
FUZZ_BUILD   := ZPS_FUZZ=1 $(SWIFT) build -c debug --sanitize fuzzer --sanitize address -Xswiftc -parse-as-library \
                -Xswiftc -use-ld=lld --scratch-path .build/fuzz
fuzz: deps
	@for target in $(FUZZ_TARGETS); do $(FUZZ_BUILD) --product $$target || exit 1; done
	@mkdir -p .build/fuzz/artifacts
	@for target in $(FUZZ_TARGETS); do \
	  echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  mkdir -p .build/fuzz/corpus/$$target; \
	  SWIFT_BACKTRACE=enable=no .build/fuzz/debug/$$target -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
	    -artifact_prefix=.build/fuzz/artifacts/$$target- .build/fuzz/corpus/$$target Fuzz/corpus/$$target \
	    2>.build/fuzz/$$target.log || { tail -40 .build/fuzz/$$target.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' .build/fuzz/$$target.log; \
	done

clean:
	rm -rf .build
