# The two commands of the README: `make run` and `make test`. Both install
# the Debian packages a fresh Debian 12 machine lacks, then build with CMake.

BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

BUILD_PACKAGES = gcc make cmake pkg-config libmicrohttpd-dev libssl-dev \
	libsodium-dev libsqlite3-dev libpq-dev libjansson-dev libcmocka-dev \
	libcurl4-openssl-dev curl
TEST_PACKAGES = python3 python3-requests python3-requests-oauthlib \
	python3-authlib nginx postgresql sqlite3 clang \
	libclang-rt-14-dev valgrind wrk gnuplot-nox

.PHONY: all build deps test-deps run test test-sanitize test-clang lint \
	format bench bench-build bench-smoke bench-callgrind fuzz clean

all: build

deps:
	@scripts/install-packages $(BUILD_PACKAGES)

test-deps: deps
	@scripts/install-packages $(TEST_PACKAGES)
	@scripts/install-node-modules

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) \
		> $(BUILD).cmake.log || (cat $(BUILD).cmake.log; exit 1)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run-demo $(BUILD)

CTEST_ARGS ?=

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The whole suite again under AddressSanitizer and UBSan. The fuzzers are
# left out: they are their own clang build with the same sanitizers, the
# same in both runs.
test-sanitize: test-deps
	$(MAKE) test BUILD=build-sanitize BUILD_TYPE=Debug \
		CMAKE_FLAGS=-DTOKEND_SANITIZE=ON CTEST_ARGS="-E ^fuzz/"

test-clang: deps
	$(MAKE) build BUILD=build-clang CMAKE_FLAGS=-DCMAKE_C_COMPILER=clang

# Every libFuzzer harness in fuzz/ for FUZZ_SECONDS each, in a clang build
# with ASan and UBSan; FUZZ_ONLY=name runs one. A crash stops the run and
# leaves its input in $(FUZZ_BUILD)/fuzz-work/<name>/.
FUZZ_SECONDS ?= 300
FUZZ_BUILD ?= build-fuzz
FUZZ_ONLY ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

fuzz: test-deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DTOKEND_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo > $(FUZZ_BUILD).cmake.log \
		|| (cat $(FUZZ_BUILD).cmake.log; exit 1)
	cmake --build $(FUZZ_BUILD) --target fuzzers -j $(JOBS)
	@for name in $(FUZZ_ONLY); do \
		echo "== fuzz_$$name for $(FUZZ_SECONDS) s"; \
		fuzz/run $(FUZZ_BUILD) $$name $(FUZZ_SECONDS) \
			$(FUZZ_BUILD)/fuzz-work || exit 1; \
	done

lint:
	@scripts/lint

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' \
		'bench/*.c' 'fuzz/*.c')

# The benchmarks of bench/README.md, from an optimised build of their own.
# make bench installs wrk, nginx and the peers, then measures for about
# five minutes; nothing of it runs in make test but the smoke run.
BENCH_BUILD ?= build-bench

bench-build: deps
	@bench/install
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release \
		> $(BENCH_BUILD).cmake.log || (cat $(BENCH_BUILD).cmake.log; exit 1)
	cmake --build $(BENCH_BUILD) -j $(JOBS) \
		--target tokend tokenctl bench_sign bench_micro

bench: bench-build
	python3 bench/run.py --build $(BENCH_BUILD) --out bench/results

# The whole tooling for a second a step, tokend and nginx only (CTest runs
# the same as bench/smoke).
bench-smoke: test-deps build
	python3 bench/run.py --smoke --build $(BUILD) --out $(BUILD)/bench-smoke

# Instructions per operation of the micro-benchmark's cases, under valgrind.
bench-callgrind: bench-build
	python3 bench/callgrind.py $(BENCH_BUILD)

clean:
	rm -rf build build-* build.cmake.log build-*.cmake.log
