# Thin wrapper over CMake (DESIGN.md §3.1): `make`, `make check`, `make bench`, `make demo`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
NOSIMD_BUILD ?= build-nosimd
ARM64_BUILD ?= build-arm64
JOBS       ?= $(shell nproc)

.PHONY: all deps build check check-release check-asan check-nosimd check-arm64 bench demo clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCS_SANITIZE=ON >/dev/null

# The whole suite: the optimised build, the ASan+UBSan build, the unit tests of the
# portable (SIMD-off) build, and the unit tests of an aarch64 cross build under qemu.
# Each stage prints its wall time.
STAGE = @t0=$$(date +%s); $(MAKE) --no-print-directory $(1) && \
	echo "check: stage $(1) passed in $$(( $$(date +%s) - t0 )) s"
check: deps
	@./scripts/install-test-deps.sh
	$(call STAGE,check-release)
	$(call STAGE,check-asan)
	$(call STAGE,check-nosimd)
	$(call STAGE,check-arm64)

check-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

check-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && CS_SANITIZED=1 ctest --output-on-failure -j $(JOBS) -LE no-asan

check-nosimd: deps
	@cmake -S . -B $(NOSIMD_BUILD) -DCMAKE_BUILD_TYPE=Release -DCS_SIMD=OFF >/dev/null
	@cmake --build $(NOSIMD_BUILD) -j $(JOBS) >$(NOSIMD_BUILD)/build.log 2>&1 || \
		{ cat $(NOSIMD_BUILD)/build.log; exit 1; }
	@cd $(NOSIMD_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit -LE pg

check-arm64: deps
	@./scripts/check-arm64.sh $(ARM64_BUILD)

bench: build
	@./scripts/run-bench.sh $(BUILD)

demo: build
	@./scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(NOSIMD_BUILD) $(ARM64_BUILD)
