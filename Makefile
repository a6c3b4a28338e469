# pnad: one Makefile for the daemon, its tools, tests, fuzzers and benches.
# `make` builds optimised binaries into build/; SANITIZE=address,undefined
# builds into build/san without jemalloc. Quiet unless V=1.

SANITIZE ?=
ifneq ($(SANITIZE),)
B ?= build/san
else
B ?= build
endif

CC ?= cc
CXX ?= c++
PKGS := liburing libprotobuf-c hiredis libnghttp2 openssl json-c expat
ifeq ($(SANITIZE),)
PKGS += jemalloc
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -I. -I$(B)/gen $(PKG_CFLAGS)
LDLIBS := $(PKG_LIBS) -lm -lpthread
ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

GEN := $(B)/gen/pna.pb-c.c $(B)/gen/pna.pb-c.h
MAINS := pnad/pnad_main.c admin/pnactl.c connectors/pna_feed.c
CORE_SRC := $(filter-out $(MAINS),$(wildcard lib/*.c proto/*.c ingest/*.c \
	router/*.c shard/*.c pnad/*.c admin/*.c connectors/*.c egress/*/*.c))
CORE_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(CORE_SRC)) $(B)/obj/gen/pna.pb-c.o
LIBPNA := $(B)/libpna.a

BINS := $(B)/pnad $(B)/pnactl $(B)/pna-feed
ifneq ($(wildcard bench/*.c),)
BINS += $(B)/pna-bench
endif
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.SECONDARY:
.PHONY: all test unit integration run bench sweep micro fuzz format format-check clean deps
all: $(BINS)

$(B)/gen/pna.pb-c.c $(B)/gen/pna.pb-c.h &: proto/pna.proto
	@mkdir -p $(B)/gen
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=proto --c_out=$(B)/gen $<

$(B)/obj/gen/pna.pb-c.o: $(B)/gen/pna.pb-c.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(filter-out -Wshadow -Wmissing-prototypes,$(CFLAGS)) -c $< -o $@

$(B)/obj/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBPNA): $(CORE_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/pnad: $(B)/obj/pnad/pnad_main.o $(LIBPNA)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(B)/pnactl: $(B)/obj/admin/pnactl.o $(LIBPNA)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(B)/pna-feed: $(B)/obj/connectors/pna_feed.o $(LIBPNA)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
BENCH_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard bench/*.c))
$(B)/pna-bench: $(BENCH_OBJ) $(LIBPNA)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIBPNA)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# Tests run the sanitizer build: unit binaries, then the integration suite
# (pytest, real peers started on loopback ports chosen at run time).
test:
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined unit integration
	$(Q)/usr/bin/python3 tests/summary.py build/san/unit.log build/san/integration.xml

unit: $(BINS) $(UNIT_BINS)
	$(Q)rm -f $(B)/unit.log; set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; $$t > $(B)/unit.out 2>&1 || { cat $(B)/unit.out; exit 1; }; \
		cat $(B)/unit.out | tee -a $(B)/unit.log | tail -n 1; done

integration: $(BINS)
	$(Q)PNA_BIN=$(abspath $(B)) /usr/bin/python3 -m pytest -q \
		--junitxml=$(abspath $(B))/integration.xml tests/integration

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)deploy/run.sh $(abspath $(B))

deps:
	$(Q)deploy/install-deps.sh

# The short default run: end to end over SIP UDP with its relay baseline
# and books (pna-bench run), then ingest, SIP NOTIFYs and XMPP stanzas
# against same-run baselines, the subscription table with 1M subscriptions,
# Redis write-through and reload. `make sweep` runs `run` over growing N and writes plots.
bench: all
	$(Q)$(B)/pna-bench run
	$(Q)$(B)/pna-bench ingest
	$(Q)$(B)/pna-bench subs
	$(Q)$(B)/pna-bench persist
	$(Q)$(B)/pna-bench sip
	$(Q)$(B)/pna-bench xmpp

sweep: all
	$(Q)$(B)/pna-bench sweep --out $(B)/sweep

# Micro-benchmarks (bench/micro/*.cc, Google Benchmark): the per-event code
# in ns and cycles per operation, linked against the objects pnad is built
# from (libpna.a) plus the benches' table builder. Not part of `make test`.
# Without -Wshadow: in C++ it rejects a function named like its struct
# (sub_table_stats), which C allows and the C build checks anyway.
MICRO_SRC := $(wildcard bench/micro/*.cc)
MICRO_OBJ := $(patsubst %.cc,$(B)/obj/%.o,$(MICRO_SRC)) $(B)/obj/bench/bench_subtab.o
MICRO_CXXFLAGS := -std=gnu++20 -O2 -g $(filter-out -Wmissing-prototypes -Wshadow,$(WARN)) \
	-Wmissing-declarations -D_GNU_SOURCE -I. -I$(B)/gen $(PKG_CFLAGS) \
	$(shell pkg-config --cflags benchmark 2>/dev/null) \
	$(filter -fsanitize=% -fno-omit-frame-pointer -fno-sanitize-recover=%,$(CFLAGS))
MICRO_MIN_TIME ?= 0.05
$(B)/obj/bench/micro/%.o: bench/micro/%.cc $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(MICRO_CXXFLAGS) -MMD -MP -c $< -o $@
$(B)/pna-micro: $(MICRO_OBJ) $(LIBPNA)
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) $^ $(shell pkg-config --libs benchmark 2>/dev/null) $(LDLIBS) -o $@
micro: $(B)/pna-micro
	$(Q)$(B)/pna-micro --benchmark_min_time=$(MICRO_MIN_TIME) $(MICRO_ARGS)

# libFuzzer targets: one per network parser, a short run each.
FUZZ_B := build/fuzz
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -I$(FUZZ_B)/gen \
	$(shell pkg-config --cflags liburing libprotobuf-c json-c hiredis libcrypto) \
	-fsanitize=fuzzer,address,undefined
FUZZ_LIB_SRC := $(filter-out $(MAINS),$(wildcard lib/*.c proto/*.c shard/shard_state.c connectors/pna_json.c ingest/ingest_conn.c router/router_route.c shard/sub_json.c egress/xmpp/xmpp_stanza.c egress/sip/sip_parse.c egress/sip/sip_auth.c egress/sip/sip_nonce.c))
FUZZ_SECONDS ?= 20
fuzz:
	$(Q)mkdir -p $(FUZZ_B)/gen
	$(Q)protoc-c --proto_path=proto --c_out=$(FUZZ_B)/gen proto/pna.proto
	$(Q)set -e; for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); echo "== $$n"; \
		clang $(FUZZ_CFLAGS) $$f $(FUZZ_LIB_SRC) $(FUZZ_B)/gen/pna.pb-c.c \
			$(shell pkg-config --libs libprotobuf-c json-c hiredis libcrypto) -o $(FUZZ_B)/$$n; \
		mkdir -p $(FUZZ_B)/corpus-$$n; \
		$(FUZZ_B)/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(FUZZ_B)/corpus-$$n tests/fuzz/corpus/$$n >$(FUZZ_B)/$$n.log 2>&1 || \
			{ tail -n 40 $(FUZZ_B)/$$n.log; echo "$$n: FAILED"; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::new_units_added' $(FUZZ_B)/$$n.log; \
	done

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' '*.cc' 2>/dev/null)
format:
	$(Q)clang-format -i $(FORMAT_SRC)
format-check:
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRC)

clean:
	rm -rf build
