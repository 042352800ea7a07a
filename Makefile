# actrm build. `make` builds the library and CLI, `make test` runs the Criterion
# tests, `make bench` the benchmarks, `make demo` the judge-model demo.
# Cross build: make CROSS=aarch64-linux-gnu-   (output in build-aarch64/)

CROSS ?=
CC    := $(if $(CROSS),$(CROSS)gcc,$(CC))
AR    := $(CROSS)ar
LD    := $(CROSS)ld
OBJCOPY := $(CROSS)objcopy

ifeq ($(CROSS),)
  ARCH  := $(shell uname -m)
  BUILD ?= build
else
  ARCH  := $(firstword $(subst -, ,$(CROSS)))
  BUILD ?= build-$(ARCH)
endif

# Keep the baseline portable: ISA-specific flags go only on simd/<isa>.c files.
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC -fopenmp -Wall -Wextra -Iinclude -Isrc -Isimd
LDLIBS  := -lcjson -lpcre2-8 -lutf8proc -lz -lm
LDFLAGS += -fopenmp
CRITERION_LIB := -lcriterion
ifneq ($(CROSS),)
  # Debian multiarch: the arm64 -dev packages install under /usr/lib/aarch64-linux-gnu.
  CFLAGS  += -I/usr/include
  LDFLAGS += -L/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,/usr/lib/aarch64-linux-gnu
  # Criterion's arm64 runtime cannot be installed next to the host's; the
  # arm part of tools/install-deps.sh unpacks it here (headers: the host's).
  ARM_CRITERION_DIR ?= /opt/actrm-arm64
  ARM_CRITERION_LIBDIR := $(ARM_CRITERION_DIR)/usr/lib/aarch64-linux-gnu
  # (DT_RPATH, unlike RUNPATH, also finds libcriterion's own libnanomsg there)
  CRITERION_LIB := -L$(ARM_CRITERION_LIBDIR) -l:libcriterion.so.3 -Wl,--disable-new-dtags,-rpath,$(ARM_CRITERION_LIBDIR)
endif

LIB_SRC  := $(wildcard src/*.c)
SIMD_SRC := simd/ref.c simd/dispatch.c simd/cpu.c
ifneq ($(filter x86_64 amd64,$(ARCH)),)
  SIMD_SRC += $(wildcard simd/x86_*.c)
endif
ifneq ($(filter aarch64 arm64,$(ARCH)),)
  SIMD_SRC += $(wildcard simd/arm_*.c)
endif

# Per-ISA target flags (only these files get them). The kernels promise
# bit-identical results on every ISA, so none of them may fuse a*b+c on its
# own: -ffp-contract=off (the default of gcc -std=c11, not of clang).
FLAGS_ref            := -ffp-contract=off
FLAGS_x86_avx2       := -ffp-contract=off -mavx2 -mfma -mf16c
FLAGS_x86_avx512     := $(FLAGS_x86_avx2) -mavx512f -mavx512bw -mavx512vl -mavx512dq
FLAGS_x86_avx512vnni := $(FLAGS_x86_avx512) -mavx512vnni
FLAGS_arm_neon       := -ffp-contract=off -march=armv8-a
FLAGS_arm_dotprod    := -ffp-contract=off -march=armv8.2-a+dotprod

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(SIMD_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC  := $(wildcard tools/*.c)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELPERS := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test bench demo clean test-arm
all: $(BUILD)/libactrm.a $(BUILD)/libactrm.so $(BUILD)/actrm

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h src/*.h simd/*.h tools/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FLAGS_$(basename $(notdir $<))) -c $< -o $@

# The installed libraries export only the functions of include/actrm.h, so
# that internal names (gguf_*, tok_*, ...) cannot clash with a program's own
# or with another library's (ggml has gguf_* too). libactrm.a is one
# relocatable object with every other global symbol made local; libactrm.so
# gets a version script. The CLI, tests and benchmarks reach internals, so
# they link the unfiltered archive libactrm-internal.a.
$(BUILD)/actrm.syms: include/actrm.h
	@mkdir -p $(dir $@)
	grep -o '\bactrm_[a-z0-9_]*(' $< | tr -d '(' | sort -u > $@

$(BUILD)/actrm.map: $(BUILD)/actrm.syms
	{ echo '{ global:'; sed 's/$$/;/' $<; echo 'local: *; };'; } > $@

$(BUILD)/libactrm-internal.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libactrm.a: $(LIB_OBJ) $(BUILD)/actrm.syms
	@rm -f $@
	$(LD) -r -o $(BUILD)/obj/actrm-public.o $(LIB_OBJ)
	$(OBJCOPY) --keep-global-symbols=$(BUILD)/actrm.syms $(BUILD)/obj/actrm-public.o
	$(AR) rcs $@ $(BUILD)/obj/actrm-public.o

$(BUILD)/libactrm.so: $(LIB_OBJ) $(BUILD)/actrm.map
	$(CC) -shared $(LDFLAGS) -Wl,--version-script=$(BUILD)/actrm.map -o $@ $(LIB_OBJ) $(LDLIBS)

INTERNAL_LIB := $(BUILD)/libactrm-internal.a

$(BUILD)/actrm: $(CLI_OBJ) $(INTERNAL_LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(INTERNAL_LIB) $(LDLIBS)

# (ACTRM_BUILD_DIR: test_symbols inspects the libraries built beside it.)
$(BUILD)/tests/%: tests/%.c $(TEST_HELPERS) $(INTERNAL_LIB) $(BUILD)/libactrm.a $(BUILD)/libactrm.so $(wildcard include/*.h src/*.h simd/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DACTRM_BUILD_DIR='"$(BUILD)"' -o $@ $< $(TEST_HELPERS) $(INTERNAL_LIB) $(LDFLAGS) $(CRITERION_LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(INTERNAL_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(INTERNAL_LIB) $(LDFLAGS) -lopenblas $(LDLIBS)

deps:
	@tools/install-deps.sh host

# Tests run from the project root so that ../shared/fixtures resolves.
# TEST_FILTER=test_gguf runs one binary; criterion flags via TEST_ARGS.
TEST_FILTER ?= test_
test: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(TEST_RUNNER_DEPS)
	@tools/run-tests.sh "$(BUILD)" "$(TEST_FILTER)" $(TEST_ARGS)

# ARM: the library, CLI and tests cross-built into build-aarch64/, then the
# tests under qemu-user (through binfmt_misc, see tools/install-deps.sh):
#   QEMU_CPU=max (NEON with dotprod): every test binary but ARM_SKIP, whose
#     end-to-end CLI runs take many minutes under emulation and exercise no
#     code that test_forward does not (run them with ARM_SKIP= if you like);
#   QEMU_CPU=cortex-a72 (ARMv8.0, no dotprod, so the plain NEON Q8_0 GEMM
#     runs): the kernel-dependent binaries ARM_NODOT_TESTS.
# Each run first checks that the kernel path is the one that CPU should get.
ARM_CROSS       ?= aarch64-linux-gnu-
ARM_SKIP        ?= test_eval test_steer
ARM_NODOT_TESTS ?= test_kernels test_forward
ARM_BUILD       := build-aarch64
test-arm:
	@tools/install-deps.sh arm
	@$(MAKE) --no-print-directory CROSS=$(ARM_CROSS) BUILD=$(ARM_BUILD) all \
	  $(TEST_SRC:tests/%.c=$(ARM_BUILD)/tests/%)
	@for spec in max:neon+dotprod cortex-a72:neon; do \
	  cpu=$${spec%%:*}; want=$${spec#*:}; \
	  got=$$(QEMU_CPU=$$cpu $(ARM_BUILD)/actrm info | sed -n 's/^kernel path: *//p'); \
	  echo "== aarch64 under qemu -cpu $$cpu: kernel path $$got"; \
	  [ "$$got" = "$$want" ] || { echo "test-arm: expected kernel path $$want on -cpu $$cpu"; exit 1; }; \
	  if [ $$cpu = max ]; then only=; else only="$(ARM_NODOT_TESTS)"; fi; \
	  TEST_RUNNER="env QEMU_CPU=$$cpu" TEST_SKIP="$(ARM_SKIP)" TEST_ONLY="$$only" ISA_TESTS= \
	    tools/run-tests.sh $(ARM_BUILD) "$(TEST_FILTER)" $(TEST_ARGS) || exit 1; \
	done

bench: deps all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# The Activation RM end to end on the bundled judge model (models/judge):
# convert, extract -> select -> eval with the four methods per criterion.
demo: deps all
	@models/judge/demo.sh "$(BUILD)"

clean:
	rm -rf build build-*
