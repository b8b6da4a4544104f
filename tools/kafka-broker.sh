#!/usr/bin/env bash
# kafka-broker.sh start DIR | stop DIR: one real Apache Kafka broker (KRaft, broker and
# controller in one JVM) on 127.0.0.1 for the integration tests (`make test-broker`).
#
# start: fetches the broker's jars from Maven Central with Maven into
# ${XDG_CACHE_HOME:-~/.cache}/opswatch/kafka-<version>/libs (once), formats a new log folder
# under DIR with a random cluster id, starts the broker on two free loopback ports, waits until
# it answers a metadata request naming itself, writes DIR/bootstrap and DIR/pid, and prints the
# bootstrap address. Its log is DIR/broker.log. stop: ends that broker and waits for it.
#
# Why Kafka 4.4.0: the newest release on Maven Central, and librdkafka 2.0.2 (Debian 12) works
# with it. Kafka 4.0 removed old protocol versions (KIP-896), but none that librdkafka 2.0.2
# uses on opswatchd's paths: CreateTopics, idempotent and transactional produce, group join,
# TxnOffsetCommit with metadata, committed offsets, read_committed fetches and watermarks all
# work (make test-broker passes against 4.4.0, and against 3.9.2, the newest 3.9, which
# OW_KAFKA_VERSION=3.9.2 selects).
set -euo pipefail

KAFKA_VERSION=${OW_KAFKA_VERSION:-4.4.0}
SLF4J_VERSION=1.7.36 # the slf4j-api the broker's jars use; slf4j-simple makes its log
START_TIMEOUT=60
# A small heap and one GC thread: the broker shares two cores with the tests.
JVM_OPTS=(-Xmx512m -Xms128m -XX:+UseSerialGC -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.showDateTime=true
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS")

die() {
    echo "kafka-broker: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

need_tools() {
    local missing="" major

    command -v java >/dev/null 2>&1 || missing="$missing java"
    command -v mvn >/dev/null 2>&1 || missing="$missing mvn"
    if [ -n "$missing" ]; then
        die "missing:$missing; install them with:
  sudo apt-get install -y openjdk-17-jre-headless maven
(or run 'make deps' as root)"
    fi
    # "17.0.15" or "1.8.0_402": Kafka 4 brokers need 17.
    major=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
    if [ "${major:-0}" -lt 17 ]; then
        die "Kafka $KAFKA_VERSION needs Java 17 or later, 'java' is version ${major:-unknown}; install:
  sudo apt-get install -y openjdk-17-jre-headless"
    fi
}

# The broker's jars and their dependencies, resolved by Maven once per version. A second run
# finds the marker file and costs nothing; a lock keeps two first runs from fetching into the
# same folder at once.
fetch_jars() {
    local cache=${XDG_CACHE_HOME:-$HOME/.cache}/opswatch/kafka-$KAFKA_VERSION out

    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    if [ -f "$cache/libs/.complete" ]; then
        echo "$cache/libs"
        return
    fi
    cat >"$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>opswatch</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    echo "kafka-broker: fetching Kafka $KAFKA_VERSION with Maven into $cache/libs" >&2
    rm -rf "$cache/libs"
    # Its output only when it fails (Debian's mvn 3.8.7 writes colour codes even with -q).
    if ! out=$(mvn -q -B -f "$cache/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$cache/libs" -DincludeScope=runtime 2>&1); then
        echo "$out" >&2
        die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see above)"
    fi
    touch "$cache/libs/.complete"
    echo "$cache/libs"
}

# A loopback port nobody listens on (connecting is refused). Random, to keep parallel runs
# apart; below the ports the tests give opswatchd's HTTP endpoint (20000 and up).
free_port() {
    local port

    for _ in $(seq 200); do
        port=$((10000 + RANDOM % 10000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port between 10000 and 19999 on 127.0.0.1"
}

# A Kafka cluster id: 16 random bytes in URL-safe base64 without padding (what
# `kafka-storage random-uuid` prints), not starting with '-' (the tools would read an option).
cluster_id() {
    local id

    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        [ "${id:0:1}" != "-" ] && break
    done
    echo "$id"
}

# True when the broker on 127.0.0.1:$1 answers a Metadata request (v4) listing itself (node 1)
# as the only broker: it has registered with its controller and serves clients. The request is
# 20 bytes written by hand; the answer's first 20 bytes are size, correlation id 1, throttle
# 0, one broker, node id 1.
answers_metadata() {
    local hex

    hex=$(timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf "\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x01\x00\x05probe\xff\xff\xff\xff\x00" >&3
        head -c 20 <&3 | od -An -tx1 | tr -d " \n"' probe "$1" 2>/dev/null) || return 1
    [ "${hex:8:32}" = "00000001000000000000000100000001" ]
}

write_properties() {
    local dir=$1 port=$2 cport=$3

    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
# One node: internal topics of one replica, and few partitions so they are created quickly.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
# Tests join groups many times: no wait for more members; and a test that kills a member may
# give it a short session, so that the group does not wait long for the dead one.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
EOF
}

# `kafka-storage format` with a new cluster id. The tool's class is kafka.tools.StorageTool in
# 3.9 to 4.4 and may move to org.apache.kafka.tools: the second is tried when the first fails.
format_storage() {
    local dir=$1 libs=$2 id

    id=$(cluster_id)
    for class in kafka.tools.StorageTool org.apache.kafka.tools.StorageTool; do
        if java "${JVM_OPTS[@]}" -cp "$libs/*" "$class" format --ignore-formatted -t "$id" \
            -c "$dir/server.properties" >>"$dir/broker.log" 2>&1; then
            return 0
        fi
    done
    return 1
}

start() {
    local dir=$1 libs port cport pid t0

    need_tools
    libs=$(fetch_jars)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "a broker already runs for $dir (pid $(cat "$dir/pid"))"
    fi
    port=$(free_port)
    cport=$(free_port)
    [ "$port" != "$cport" ] || cport=$(free_port)
    rm -rf "$dir/data" "$dir/bootstrap" "$dir/pid" "$dir/broker.log"
    write_properties "$dir" "$port" "$cport"
    format_storage "$dir" "$libs" || die "formatting $dir/data failed; $dir/broker.log:
$(tail -n 20 "$dir/broker.log")"
    t0=$SECONDS
    # In the background it outlives this script and ignores the terminal's Ctrl-C; stop ends
    # it by its pid, which the property in its command line ties to DIR.
    java "${JVM_OPTS[@]}" -Dopswatch.broker.dir="$dir" \
        -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/broker.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    until answers_metadata "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$dir/pid"
            die "the broker exited during start; last lines of $dir/broker.log:
$(tail -n 30 "$dir/broker.log")"
        fi
        if [ $((SECONDS - t0)) -ge "$START_TIMEOUT" ]; then
            stop "$dir" >/dev/null 2>&1 || true
            die "the broker did not answer on 127.0.0.1:$port within ${START_TIMEOUT} s; last lines of $dir/broker.log:
$(tail -n 30 "$dir/broker.log")"
        fi
        sleep 0.2
    done
    echo "127.0.0.1:$port" >"$dir/bootstrap"
    echo "kafka-broker: Kafka $KAFKA_VERSION (pid $pid) answers on 127.0.0.1:$port after $((SECONDS - t0)) s; log $dir/broker.log" >&2
    echo "127.0.0.1:$port"
}

# Only the broker this script started for DIR: its pid file names it, and its command line
# carries DIR, so a reused pid of some other process is left alone.
stop() {
    local dir=$1 pid

    [ -f "$dir/pid" ] || {
        echo "kafka-broker: no broker for $dir (no pid file)" >&2
        return 0
    }
    dir=$(cd "$dir" && pwd)
    pid=$(cat "$dir/pid")
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dopswatch.broker.dir=$dir "; then
        echo "kafka-broker: pid $pid is not the broker of $dir (already stopped)" >&2
        rm -f "$dir/pid"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "kafka-broker: pid $pid still runs 30 s after SIGTERM: SIGKILL" >&2
        kill -KILL "$pid"
        while kill -0 "$pid" 2>/dev/null; do
            sleep 0.1
        done
    fi
    rm -f "$dir/pid"
    echo "kafka-broker: stopped pid $pid" >&2
}

[ $# -eq 2 ] || usage
case "$1" in
start) start "$2" ;;
stop) stop "$2" ;;
*) usage ;;
esac
