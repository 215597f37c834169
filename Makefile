# videollm - build everything into build/ (the binary is build/videollm).
#   make            library + CLI
#   make test       build and run the whole test suite (ends with "N passed, N failed")
#   make test-asan  the unit and conformance tests under ASan+UBSan (build-asan/)
#   make test-tsan  the multi-session streaming test under ThreadSanitizer (build-tsan/)
#   make fuzz       libFuzzer harnesses (clang) into build/fuzz/
#   make demo       the main job on the embedded default
#   make bench      benchmarks against peers measured in the same run

CC      ?= cc
BUILD   ?= build
PKGS    := jansson libpcre2-8 libutf8proc libavformat libavcodec libavfilter libavdevice libswscale libavutil
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
# The pkg-config flags are looked up on first use, not when the Makefile is
# read: on a fresh machine the packages only exist once $(DEPS_OK) has run
# scripts/install-deps, which happens before the first recipe is expanded.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -Isrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS      = $(PKG_LIBS) -lm -lpthread

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC  := $(sort $(wildcard tools/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
DEPS_OK  := .deps/ok

.PHONY: all lib cli tests test test-asan test-tsan fuzz fuzz-short demo demo-model bench clean deps

all: cli

$(DEPS_OK): scripts/install-deps
	@scripts/install-deps --check >/dev/null 2>&1 || scripts/install-deps
	@mkdir -p .deps && touch $@

deps:
	scripts/install-deps

lib: $(BUILD)/libvideollm.a
cli: $(BUILD)/videollm
tests: $(TEST_BIN) cli

$(BUILD)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libvideollm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/videollm: $(CLI_OBJ) $(BUILD)/libvideollm.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libvideollm.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h tests/unit/alloc_count.h $(BUILD)/libvideollm.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libvideollm.a $(LDLIBS)

test: tests fuzz
	@BUILD=$(BUILD) tests/run.sh

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
test-asan:
	$(MAKE) BUILD=build-asan OPT=-O1 EXTRA_CFLAGS="$(SAN)" tests
	@BUILD=build-asan VLM_SANITIZED=1 tests/run.sh

# 8 sessions on one model in 8 threads, and the frame-encoding pipeline, under
# ThreadSanitizer: any report fails the run.
TSAN := -fsanitize=thread -fno-omit-frame-pointer
test-tsan:
	$(MAKE) BUILD=build-tsan OPT=-O1 EXTRA_CFLAGS="$(TSAN)" build-tsan/tests/test_session cli
	@BUILD=build-tsan TESTS=stream_threads VLM_THREADS_ONLY=1 VLM_THREADS_FRAMES=4 VLM_TEST_SESSION=build-tsan/tests/test_session \
	  TSAN_OPTIONS="halt_on_error=1 exitcode=66" tests/run.sh

# libFuzzer harnesses: clang, ASan+UBSan; the library is compiled once with
# the same instrumentation into its own archive and linked into each harness.
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -g -O1 $(FUZZ_SAN) -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(PKG_CFLAGS)
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
$(BUILD)/fuzzobj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(BUILD)/libvideollm-fuzz.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libvideollm-fuzz.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libvideollm-fuzz.a $(LDLIBS)
fuzz: $(FUZZ_BIN)

demo: cli
	@scripts/demo.sh

# Train the default model from scratch (about 75 minutes on 2 cores) and install it
# into models/default/ (docs/demo-model.md).
demo-model: cli
	INSTALL=1 scripts/demo-model.sh

bench: cli
	@scripts/bench.sh

clean:
	rm -rf build build-asan build-tsan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
