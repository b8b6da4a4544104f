# opswatch: one non-recursive Makefile. `make help` lists the targets.

PKGS      := rdkafka jansson libuv libxxhash libcrypto libwebsockets
TEST_PKGS := cmocka yajl
DEB_PKGS  := build-essential pkg-config librdkafka-dev libjansson-dev libuv1-dev libyajl-dev \
             libxxhash-dev libssl-dev libcmocka-dev tzdata valgrind node:nodejs npm:npm \
             libwebsockets-dev libwebsockets-evlib-uv clang-format libjemalloc-dev

B       ?= build
CC      ?= gcc
OPT     ?= -O2
CFLAGS  := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -MMD -MP \
           -Iprocessors/core -Iprocessors -Idaemon $(EXTRA_CFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread $(EXTRA_LDFLAGS)
TEST_LDLIBS := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)
# The daemon's allocator. Why jemalloc: librdkafka's fetcher thread allocates every message and
# the loop thread frees it; with glibc's malloc each of those frees waits on the fetcher's
# arena lock (measured: 95% of the loop thread's sleeps, half its time). The sanitizer build
# keeps the sanitizers' own allocator (MALLOC_LIBS= ).
MALLOC_LIBS ?= $(shell pkg-config --libs jemalloc 2>/dev/null)

ENGINE_SRC := $(wildcard processors/core/*.c processors/*.c)
EMBED_SRC  := $(B)/gen/embedded.c
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(B)/%.o) $(B)/gen/embedded.o
CLI_SRC    := $(filter-out daemon/opswatchd.c,$(wildcard daemon/*.c))
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/%.o)
CLI_LIB_OBJ := $(filter-out $(B)/daemon/opswatch.o,$(CLI_OBJ))
SUPPORT_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard tests/support/*.c))
TEST_SRC   := $(wildcard tests/unit/test_*.c tests/processors/test_*.c)
TEST_BIN   := $(TEST_SRC:%.c=$(B)/%)
KAFKA_TEST_BIN := $(patsubst %.c,$(B)/%,$(filter-out tests/kafka/test_broker_%,$(wildcard tests/kafka/test_*.c)))
# The tests that need a real Kafka broker (make test-broker).
BROKER_TEST_BIN := $(patsubst %.c,$(B)/%,$(wildcard tests/kafka/test_broker_*.c))
# The mock-cluster harness the kafka tests and bench_live share.
HARNESS_OBJ := $(B)/tests/kafka/harness.o
EMBEDDED   := config/default.json config/workdays-ew.json

.PHONY: all test test-unit test-kafka test-broker test-schemas test-e2e test-asan valgrind run run-replay bench bench-live lint deps \
        format format-check clean help
all: deps-check $(B)/opswatch $(B)/opswatchd

help:
	@echo "make            build build/opswatch"
	@echo "make test       install missing packages (as root), build, run every test"
	@echo "make test-asan  the tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make run        opswatchd --demo: mock Kafka, live traffic, HTTP on :8080"
	@echo "                (OPSWATCH_DEMO_SECONDS=N stops after N s; otherwise Ctrl-C)"
	@echo "make run-replay generate a quarter of traffic, replay it, print the Panel report"
	@echo "make test-kafka the live daemon's tests against the in-process mock cluster"
	@echo "make test-broker exactly_once against a real Kafka broker (Java + Maven fetch it)"
	@echo "make valgrind   replay a generated stream under valgrind's leak checker"
	@echo "make bench      replay throughput against the jansson reference, then bench-live"
	@echo "make bench-live opswatchd on the mock cluster: backlog rate, latency, saves at 10M ids"
	@echo "make deps       install the Debian packages (root) or print the command"

$(B)/%.o: %.c
	@mkdir -p $(@D)
	@printf '  CC      %s\n' $<
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/gen/embedded.c: $(EMBEDDED) tools/embed.sh
	@mkdir -p $(@D)
	@sh tools/embed.sh $(EMBEDDED) > $@

$(B)/gen/embedded.o: $(B)/gen/embedded.c
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/libopswatch.a: $(ENGINE_OBJ) $(CLI_LIB_OBJ)
	@printf '  AR      %s\n' $@
	@rm -f $@ && ar rcs $@ $^

$(B)/opswatch: $(B)/daemon/opswatch.o $(B)/libopswatch.a
	@printf '  LD      %s\n' $@
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/opswatchd: $(B)/daemon/opswatchd.o $(B)/libopswatch.a
	@printf '  LD      %s\n' $@
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIBS)

$(B)/tests/%: tests/%.c $(SUPPORT_OBJ) $(B)/libopswatch.a
	@mkdir -p $(@D)
	@printf '  TEST-CC %s\n' $<
	@$(CC) $(CFLAGS) -Itests/support -o $@ $< $(LINK_OBJ) $(SUPPORT_OBJ) $(B)/libopswatch.a $(LDLIBS) $(TEST_LDLIBS)

# LINK_OBJ: what a test or bench binary links besides its source and the shared objects.
$(KAFKA_TEST_BIN) $(B)/bench/bench_live: $(HARNESS_OBJ)
$(KAFKA_TEST_BIN) $(B)/bench/bench_live: private LINK_OBJ := $(HARNESS_OBJ)
$(BROKER_TEST_BIN): $(HARNESS_OBJ)
$(BROKER_TEST_BIN): private LINK_OBJ := $(HARNESS_OBJ)
$(BROKER_TEST_BIN): private CFLAGS += -Itests/kafka
$(B)/bench/bench_live: private CFLAGS += -Itests/kafka

# The whole suite: unit and processor tests (cmocka), schema agreement (ajv), end to end.
test: deps $(B)/opswatch $(TEST_BIN)
	@sh tests/run_unit.sh $(TEST_BIN)
	@$(MAKE) --no-print-directory test-schemas test-e2e test-kafka $(BROKER_TESTS)

test-unit: $(TEST_BIN)
	@sh tests/run_unit.sh $(TEST_BIN)

# The live daemon against librdkafka's mock cluster, inside each test process (no broker).
test-kafka: $(B)/opswatchd $(KAFKA_TEST_BIN)
	@OPSWATCHD=$(B)/opswatchd OW_TEST_TIMEOUT=300 sh tests/run_unit.sh $(KAFKA_TEST_BIN)

# What the mock cannot show (transaction markers, offsets committed in a transaction), against
# one real Apache Kafka broker that tools/kafka-broker.sh starts in a temporary folder and
# always stops; Java and Maven fetch it (once). Part of `make test`, not of test-asan (its
# BROKER_TESTS is empty). OW_KEEP=1 keeps the folder (broker.log, the daemon's logs).
BROKER_TESTS ?= test-broker
DEB_PKGS += java:openjdk-17-jre-headless mvn:maven
test-broker: $(B)/opswatchd $(BROKER_TEST_BIN)
	@dir=$$(mktemp -d /tmp/ow-kafka-XXXXXX); \
	trap 'bash tools/kafka-broker.sh stop "$$dir"; [ -n "$$OW_KEEP" ] || rm -rf "$$dir"' EXIT; \
	trap 'exit 130' INT TERM; \
	bootstrap=$$(bash tools/kafka-broker.sh start "$$dir") || exit 1; \
	OW_TEST_BROKERS=$$bootstrap OPSWATCHD=$(B)/opswatchd sh tests/run_unit.sh $(BROKER_TEST_BIN) || \
	  { echo "test-broker: the broker's log ends:"; tail -n 15 "$$dir/broker.log"; exit 1; }

test-schemas: $(B)/opswatch
	@sh tests/schema/run.sh $(B)/opswatch

$(B)/tests/e2e/compare: tests/e2e/compare.c
	@mkdir -p $(@D)
	@$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

test-e2e: $(B)/opswatch $(B)/tests/e2e/compare
	@sh tests/e2e/run.sh $(B)/opswatch $(B)/tests/e2e/compare

test-asan:
	@$(MAKE) --no-print-directory B=build/asan OPT=-O1 \
	  EXTRA_CFLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer' \
	  EXTRA_LDFLAGS='-fsanitize=address,undefined' MALLOC_LIBS= BROKER_TESTS= test

valgrind: $(B)/opswatch $(B)/opswatchd
	@sh tests/valgrind.sh $(B)/opswatch
	@sh tests/kafka/valgrind_demo.sh $(B)/opswatchd

# opswatchd --demo: mock cluster, generated traffic, HTTP on 127.0.0.1:8080; until Ctrl-C, or
# for OPSWATCH_DEMO_SECONDS seconds.
run: deps $(B)/opswatchd
	@$(B)/opswatchd --demo $${OPSWATCH_DEMO_SECONDS:+--exit-after $$OPSWATCH_DEMO_SECONDS}

run-replay: deps $(B)/opswatch
	@sh tools/run-demo.sh $(B)/opswatch

$(B)/bench/%: bench/%.c $(B)/libopswatch.a
	@mkdir -p $(@D)
	@printf '  BENCH   %s\n' $<
	@$(CC) $(CFLAGS) -o $@ $< $(LINK_OBJ) $(B)/libopswatch.a $(LDLIBS) $(TEST_LDLIBS) $(MALLOC_LIBS)

bench: deps $(B)/opswatch $(B)/bench/jansson_ref $(B)/opswatchd $(B)/bench/bench_live \
	$(B)/bench/bench_relay
	@sh bench/run.sh $(B)/opswatch
	@sh bench/run_live.sh $(B)/opswatchd $(B)/bench/bench_live

# The live daemon's numbers alone (mock cluster; see README, "Durability").
bench-live: $(B)/opswatchd $(B)/bench/bench_live $(B)/bench/bench_relay
	@sh bench/run_live.sh $(B)/opswatchd $(B)/bench/bench_live

lint:
	@! grep -rlE '#include <(uv|librdkafka/rdkafka)\.h>' processors/ || \
	  { echo "lint: processors/ must not include uv.h or rdkafka.h"; exit 1; }

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# Install what is missing: as root with apt-get, otherwise print the command.
deps:
	@sh tools/deps.sh $(DEB_PKGS)

deps-check:
	@pkg-config --exists $(PKGS) || { echo "missing libraries: run 'make deps'"; exit 1; }

clean:
	rm -rf build

-include $(shell find $(B) -name '*.d' 2>/dev/null)
