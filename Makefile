# Thin wrapper around CMake. `make test` and `make demo` install missing
# Debian packages first (scripts/install-deps).
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
TBUILD  ?= build-test
FBUILD  ?= build-fuzz
PREFIX  ?= /usr/local

.PHONY: all deps build test demo install package fuzz bench mutants clean

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

# The build's chatter (apt, cmake, make) goes to a log; the screen shows
# the demo itself.
demo:
	@mkdir -p $(BUILD)
	@echo "demo: installing missing packages and building in $(BUILD)/ (log: $(BUILD)/demo-build.log)"
	@$(MAKE) --no-print-directory build >$(BUILD)/demo-build.log 2>&1 || { \
	    echo "demo: the build failed; the end of $(BUILD)/demo-build.log:"; \
	    tail -n 30 $(BUILD)/demo-build.log; exit 1; }
	@echo "demo: built"
	@scripts/demo $(BUILD)
	@echo
	@scripts/demo-raft $(BUILD)

install: build
	cmake --install $(BUILD)

# assay_<version>_amd64.deb (the programs; the configuration in
# /etc/assay) and libassay-plugin-dev_<version>_amd64.deb (headers,
# pkg-config and CMake files, libassay-testing) in $(PBUILD), installed
# under /usr (docs/operations.md#the-debian-package).
PBUILD  ?= build-pkg
package: deps
	cmake -S . -B $(PBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASSAY_TESTS=OFF \
	    -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc >/dev/null
	cmake --build $(PBUILD) -j$(JOBS)
	cd $(PBUILD) && cpack >/dev/null && \
	    ls -1 "$$PWD"/assay_*.deb "$$PWD"/libassay-plugin-dev_*.deb

# libFuzzer, FUZZ_SECONDS per target, in a separate clang build. New inputs
# go to $(FBUILD)/corpus/<target> (libFuzzer writes only to its first
# corpus folder), never to the checked-in tests/fuzz/corpus/<target>. A
# crash, leak or hang stops here, its input saved as $(FBUILD)/crash-*.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = codec frame jobspec conf state snapshot entry register describe rtmsg cpmsg raftlink cron tzif scheddef bearer

fuzz: deps
	@scripts/install-deps clang libclang-rt-14-dev
	CC=clang cmake -S . -B $(FBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DASSAY_SANITIZE=ON -DASSAY_FUZZ=ON -DASSAY_TESTS=ON >/dev/null
	cmake --build $(FBUILD) -j$(JOBS) --target $(FUZZ_TARGETS:%=fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FBUILD)/corpus/$$t && echo "fuzz_$$t: $(FUZZ_SECONDS)s" && \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	    $(FBUILD)/bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	        -print_final_stats=1 -artifact_prefix=$(FBUILD)/crash-$$t- \
	        $(FBUILD)/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# Removes each guard line of tests/mutants/mutants.list in turn, rebuilds
# and runs the suites that must notice (not part of `make test`).
mutants: deps
	tests/mutants/run.sh $(CURDIR)/build-mutants

bench: build
	$(BUILD)/bench/bench-pool
	$(BUILD)/bench/bench-ffi
	$(BUILD)/bench/bench-restore 200000
	$(BUILD)/bench/bench-snapshot 1000000
	bench/run-e2e.sh $(BUILD)
	bench/latency-floor.sh $(BUILD) 3

clean:
	rm -rf $(BUILD) $(TBUILD) $(FBUILD) build-mutants
