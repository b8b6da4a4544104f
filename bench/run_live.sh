#!/bin/sh
# run_live.sh OPSWATCHD BENCH_LIVE: the live part of `make bench` (also `make bench-live`):
# librdkafka's mock cluster in the bench process, opswatchd as a child. Prints a table of
# absolute numbers and the ratios from the same run. OPSWATCHD_BENCH_LIVE_ARGS passes options
# to bench_live (e.g. "--events 500000 --ids 1000000" for a quick run).
set -eu
daemon=$1
bench=$2
out=${OPSWATCHD_BENCH_DIR:-build/bench}/live
mkdir -p "$out"
# shellcheck disable=SC2086
"$bench" "$daemon" "$out" ${OPSWATCHD_BENCH_LIVE_ARGS:-} >"$out/results.txt"
v() { awk -v k="$1" '$1 == k {print $2}' "$out/results.txt"; }
ratio() { awk "BEGIN {printf \"%.0f%%\", 100 * $1 / $2}"; }
echo
echo "live: $(v backlog_events) events over $(v backlog_partitions) partitions (mock cluster,"
echo "one broker in the bench process; opswatchd with live.checkpoint_interval 1s, 200 ms"
echo "while a backlog is read)"
echo
printf '| %-58s | %16s | %10s |\n' "measure" "value" "ratio"
printf '|%s|%s|%s|\n' "------------------------------------------------------------" \
    "------------------" "------------"
printf '| %-58s | %16s | %10s |\n' "raw librdkafka consume of the backlog, median of 5 (events/s)" \
    "$(v raw_consume_rate)" "100%"
printf '| %-58s | %16s | %10s |\n' "opswatchd: applied, from assignment, median of 5 (events/s)" \
    "$(v daemon_applied_rate)" "$(ratio "$(v daemon_applied_rate)" "$(v raw_consume_rate)")"
printf '| %-58s | %16s | %10s |\n' "opswatchd: applied, saved and committed, median of 5 (events/s)" \
    "$(v daemon_committed_rate)" "$(ratio "$(v daemon_committed_rate)" "$(v raw_consume_rate)")"
printf '| %-58s | %16s | %10s |\n' "opswatchd: CPU per event, all threads / loop thread (us)" \
    "$(v daemon_cpu_us_per_event) / $(v daemon_loop_cpu_us_per_event)" ""
printf '| %-58s | %16s | %10s |\n' "opswatchd: peak resident memory, median of 5 (MiB)" \
    "$(v daemon_peak_rss_mib)" ""
plus() { awk "BEGIN {printf \"+%.1f ms p99\", $1 - $2}"; }
printf '| %-58s | %16s | %10s |\n' "at $(v latency_rate) events/s: raw produce-to-consume p50 / p99 (ms)" \
    "$(v raw_p50_ms) / $(v raw_p99_ms)" ""
printf '| %-58s | %16s | %10s |\n' "at $(v latency_rate) events/s: produce-to-alert p50 / p99 (ms)" \
    "$(v alert_p50_ms) / $(v alert_p99_ms)" "$(plus "$(v alert_p99_ms)" "$(v raw_p99_ms)")"
printf '| %-58s | %16s | %10s |\n' "  per alert: from its event's raw arrival, p50 / p99 (ms)" \
    "$(v alert_after_raw_p50_ms) / $(v alert_after_raw_p99_ms)" ""
printf '| %-58s | %16s | %10s |\n' "  per alert: its own hop, opswatchd produce to read (ms)" \
    "$(v alert_hop_p50_ms) / $(v alert_hop_p99_ms)" ""
printf '| %-58s | %16s | %10s |\n' "the floor, bench_relay: raw p50 / p99 (ms)" \
    "$(v relay_raw_p50_ms) / $(v relay_raw_p99_ms)" ""
printf '| %-58s | %16s | %10s |\n' "the floor, bench_relay: produce-to-alert p50 / p99 (ms)" \
    "$(v relay_alert_p50_ms) / $(v relay_alert_p99_ms)" \
    "$(plus "$(v relay_alert_p99_ms)" "$(v relay_raw_p99_ms)")"
printf '| %-58s | %16s | %10s |\n' "$(v ids_remembered) ids: save after 1 s at 10k events/s, median / max (ms)" \
    "$(v ids_save_ms_median) / $(v ids_save_ms_max)" ""
printf '| %-58s | %16s | %10s |\n' "$(v ids_remembered) ids: bytes written by that save" \
    "$(v ids_save_bytes)" ""
printf '| %-58s | %16s | %10s |\n' "$(v ids_remembered) ids: first save (all ids; ms / bytes)" \
    "$(v ids_first_save_ms) / $(v ids_first_save_bytes)" ""
printf '| %-58s | %16s | %10s |\n' "$(v ids_remembered) ids: state load into a new engine (ms)" \
    "$(v ids_load_ms)" ""
printf '| %-58s | %16s | %10s |\n' "$(v ids_remembered) ids: opswatchd exec to state restored (s)" \
    "$(v ids_daemon_restored_s)" ""
printf '| %-58s | %16s | %10s |\n' "$(v ids_remembered) ids: opswatchd exec to /readyz 200 (s)" \
    "$(v ids_daemon_ready_s)" "mock join 3 s"
printf '| %-58s | %16s | %10s |\n' "compacting save, $(v ids_compact_log_before) records to $(v ids_compact_log_after): loop part (ms)" \
    "$(v ids_compact_prepare_ms)" ""
printf '| %-58s | %16s | %10s |\n' "compacting save: total, on the saver thread (ms)" \
    "$(v ids_compact_save_ms)" ""

# The restart figures on a real broker (the mock knows no static members): only where Java
# and Maven can run one (tools/kafka-broker.sh; the first run downloads it). --only restart:
# the state of N ids and the two starts, not the ids part's saves, load and compaction again.
if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
    broker_dir=$(mktemp -d /tmp/ow-bench-broker-XXXXXX)
    trap 'bash tools/kafka-broker.sh stop "$broker_dir" >/dev/null 2>&1; rm -rf "$broker_dir"' EXIT
    if brokers=$(bash tools/kafka-broker.sh start "$broker_dir" 2>/dev/null); then
        # shellcheck disable=SC2086
        "$bench" "$daemon" "$out/broker" --only restart --brokers "$brokers" \
            ${OPSWATCHD_BENCH_LIVE_ARGS:-} >"$out/results-broker.txt"
        b() { awk -v k="$1" '$1 == k {print $2}' "$out/results-broker.txt"; }
        printf '| %-58s | %16s | %10s |\n' "on Kafka (tools/kafka-broker.sh): exec to /readyz 200 (s)" \
            "$(b ids_daemon_ready_s)" "first start"
        printf '| %-58s | %16s | %10s |\n' "on Kafka: restart after SIGKILL, exec to /readyz 200 (s)" \
            "$(b ids_daemon_restart_ready_s)" "target 2"
    else
        echo "(no Kafka broker could start: the restart rows on Kafka are left out)"
    fi
fi
echo
echo "(raw numbers: $out/results.txt; opswatchd logs: $out/*.log)"
