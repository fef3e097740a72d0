#!/usr/bin/env bash
# zookeeper.sh: measure a standalone ZooKeeper (Debian's `zookeeper` package,
# 3.8) on this machine with zkbench.
#
# It installs the package if it is missing, starts one ZooKeeper on a
# loopback port with a temporary data directory (under $TMPDIR, or /tmp;
# fsync on, ZooKeeper's default), waits until it serves, runs zkbench once
# per workload given, then stops that ZooKeeper by its PID and removes the
# temporary directory. Flags after `--` come last, so they override.
#
# Usage:
#   bench/zookeeper.sh [WORKLOAD[:CLIENTS] ...] [-- ZKBENCH_FLAGS ...]
#
#   bench/zookeeper.sh create get set set:1
#   bench/zookeeper.sh set:1 -- -duration 5s -json
#
# A workload is create, get or set; CLIENTS defaults to 64. Flags after `--`
# go to every zkbench run. Environment: ZK_PORT (default 21810), ZK_HEAP
# (default 1g), ZK_DURATION (default 10s).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${ZK_PORT:-21810}
heap=${ZK_HEAP:-1g}
duration=${ZK_DURATION:-10s}

workloads=()
extra=()
while (($#)); do
	if [[ $1 == -- ]]; then
		shift
		extra=("$@")
		break
	fi
	workloads+=("$1")
	shift
done
((${#workloads[@]})) || workloads=(create get set set:1)

if ! dpkg -s zookeeper >/dev/null 2>&1; then
	echo "zookeeper.sh: installing the Debian zookeeper package" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null
fi
zk_version=$(dpkg-query -W -f='${Version}' zookeeper)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zkbench.XXXXXX")
zk_pid=
bench_pid=
cleanup() {
	if [[ -n $bench_pid ]]; then
		kill "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	if [[ -n $zk_pid ]] && kill -0 "$zk_pid" 2>/dev/null; then
		kill "$zk_pid"
		for _ in $(seq 50); do
			kill -0 "$zk_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$zk_pid" 2>/dev/null || true
		wait "$zk_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/data"
if [[ $(stat -f -c %T "$tmp") == tmpfs ]]; then
	echo "zookeeper.sh: warning: $tmp is on tmpfs, so fsync costs nothing; set TMPDIR to a disk" >&2
fi
cat >"$tmp/zoo.cfg" <<EOF
tickTime=2000
dataDir=$tmp/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
# forceSync=yes is ZooKeeper's default: each transaction-log write is fsynced.
forceSync=yes
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr
autopurge.purgeInterval=0
EOF

echo "zookeeper.sh: ZooKeeper $zk_version on 127.0.0.1:$port, heap $heap, data in $tmp" >&2
# zookeeper.jar's manifest names the jars it needs. Without an SLF4J binding
# on the class path ZooKeeper logs nothing, which keeps the run quiet.
java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Dzookeeper.jmx.log4j.disable=true \
	-cp /usr/share/java/zookeeper.jar \
	org.apache.zookeeper.server.ZooKeeperServerMain "$tmp/zoo.cfg" \
	>"$tmp/zookeeper.log" 2>&1 &
zk_pid=$!

# ask sends a four-letter command and prints the reply.
ask() {
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf %s "$1" >&3
	timeout 2 cat <&3
}

# Wait until it serves: `ruok` answers imok as soon as the port is open, but
# `srvr` names the mode only once requests are served (at most 30 s).
ready=
for _ in $(seq 300); do
	if ! kill -0 "$zk_pid" 2>/dev/null; then
		echo "zookeeper.sh: ZooKeeper exited:" >&2
		cat "$tmp/zookeeper.log" >&2
		exit 1
	fi
	if [[ $(ask ruok 2>/dev/null) == imok && $(ask srvr 2>/dev/null) == *Mode:* ]]; then
		ready=1
		break
	fi
	sleep 0.1
done
if [[ -z $ready ]]; then
	echo "zookeeper.sh: ZooKeeper was not serving within 30 s" >&2
	cat "$tmp/zookeeper.log" >&2
	exit 1
fi

ask srvr | sed -n '1p;/^Mode/p' >&2

bin="$tmp/zkbench"
(cd "$here" && go build -o "$bin" ./cmd/zkbench)

for w in "${workloads[@]}"; do
	name=${w%%:*}
	clients=64
	[[ $w == *:* ]] && clients=${w#*:}
	# In the background, so that a signal reaches the trap at once.
	"$bin" -servers "127.0.0.1:$port" -workload "$name" -clients "$clients" \
		-duration "$duration" "${extra[@]}" &
	bench_pid=$!
	wait "$bench_pid"
	bench_pid=
done
