# Thin wrapper around CMake. `make test` and `make demo` install missing
# Debian packages first (scripts/install-deps).
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
TBUILD  ?= build-test
FBUILD  ?= build-fuzz
PREFIX  ?= /usr/local

.PHONY: all deps build test demo install fuzz bench clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Sanitized, warnings-as-errors build; every suite runs through ctest.
test: deps
	cmake -S . -B $(TBUILD) -DCMAKE_BUILD_TYPE=Debug -DASSAY_SANITIZE=ON -DASSAY_WERROR=ON >/dev/null
	cmake --build $(TBUILD) -j$(JOBS)
	cd $(TBUILD) && ctest --output-on-failure -j$(JOBS) --timeout 300

demo: build
	@scripts/demo $(BUILD)

install: build
	cmake --install $(BUILD)

bench: build
	$(BUILD)/bench/bench-pool
	$(BUILD)/bench/bench-ffi

clean:
	rm -rf $(BUILD) $(TBUILD) $(FBUILD)
