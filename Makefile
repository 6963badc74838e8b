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
	libclang-rt-14-dev valgrind

.PHONY: all build deps test-deps run test test-sanitize test-clang lint \
	format bench bench-smoke fuzz clean

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

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite again under AddressSanitizer and UBSan.
test-sanitize: test-deps
	$(MAKE) test BUILD=build-sanitize BUILD_TYPE=Debug \
		CMAKE_FLAGS=-DTOKEND_SANITIZE=ON

test-clang: deps
	$(MAKE) build BUILD=build-clang CMAKE_FLAGS=-DCMAKE_C_COMPILER=clang

lint:
	@scripts/lint

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' \
		'bench/*.c' 'fuzz/*.c')

clean:
	rm -rf build build-* build.cmake.log build-*.cmake.log
