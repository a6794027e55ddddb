# Thin wrapper over CMake (DESIGN.md §3.1): `make`, `make check`, `make bench`, `make demo`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build check check-release check-asan bench demo clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCS_SANITIZE=ON >/dev/null

# The whole suite: the optimised build, then the ASan+UBSan build.
check: deps
	@./scripts/install-test-deps.sh
	@$(MAKE) --no-print-directory check-release
	@$(MAKE) --no-print-directory check-asan

check-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

check-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && CS_SANITIZED=1 ctest --output-on-failure -j $(JOBS) -LE no-asan

bench: build
	@./scripts/run-bench.sh $(BUILD)

demo: build
	@./scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
