#!/usr/bin/env bash
# compare.sh: arbor, ZooKeeper 3.8 and etcd 3.4 side by side on this
# machine, each as 1 member and as 3 members on loopback, fsync on, under
# the same workloads and client count, measured by the same load runner
# (internal/loadgen: `arbor bench` for arbor, bench/cmd/cmpbench for the
# others). Prints one markdown table (bench/cmd/cmptable) on stdout.
#
# One system runs at a time: for each cluster size, each system is started
# afresh (new data dirs), the workloads run in the order given, and the
# system is stopped before the next starts. Every process started here is
# stopped by its PID at the end, also on error or a signal; the temporary
# directory goes too (results stay in --out if given).
#
# Usage:
#   bench/compare.sh [--members 1,3] [--workloads create,set,get,mixed,watch,lock]
#                    [--clients 64] [--watchers W] [--duration 10s] [--warmup 2s]
#                    [--rate R] [--runs N]
#                    [--systems arbor,zookeeper,etcd] [--no-serializable]
#                    [--footprint] [--footprint-members 1] [--fill 1000000]
#                    [--out DIR] [--write FILE]
#
#   bench/compare.sh --members 1 --workloads set --clients 4 --duration 2s
#   bench/compare.sh --footprint --workloads none --fill 20000
#
# --runs N repeats the load runs N times (default 1), each system started
# afresh each time, the systems taking turns in every round; the table
# shows each system's median run of each row (by ops/s), and
# results.jsonl keeps every run.
#
# --rate R runs every workload on a fixed schedule of R operations per
# second in total instead of a closed loop, latency counted from each
# operation's scheduled time: the same R for every system compares their
# latencies at equal load.
#
# --footprint fills each system (as each of --footprint-members) with --fill
# nodes of 100 bytes (the create workload, 64 clients, kept) and records the
# RSS of a member (the leader of three), the JVM's live heap for ZooKeeper,
# the data dir's size, and how long a member killed with SIGKILL (a
# follower of three) takes after its restart to serve a read, caught up.
# --workloads none skips the load table. etcd's get (and mixed) run a second
# time with serializable reads unless --no-serializable.
#
# Installs the Debian packages zookeeper and etcd-server if they are
# missing. Environment: TMPDIR (data dirs; must not be tmpfs, or fsync is
# free), CMP_PORT_BASE (default 27000: ports BASE+100.. are used),
# ZK_HEAP (load runs, default 1g), ARBOR_BIN and CMPBENCH_BIN (use these
# binaries instead of building them from this tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

usage() {
	sed -n '/^# Usage:/,/^# Installs/p' "$0" | sed 's/^# \{0,1\}//; /^Installs/d' >&2
}

# Limits, as the load tools have them, so a typo fails here and not an hour in.
max_clients=1024
max_watchers=10000
max_fill=10000000

members_list=1,3
workloads_list=create,set,get,mixed,watch,lock
systems_list=arbor,zookeeper,etcd
clients=64
watchers=
duration=10s
warmup=2s
rate=
runs=1
serializable=1
footprint=
footprint_members=1
fill=1000000
out=
write=

need_value() {
	[[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (see --help)"
}
while (($#)); do
	case $1 in
	--members) need_value "$@"; members_list=$2; shift 2 ;;
	--workloads) need_value "$@"; workloads_list=$2; shift 2 ;;
	--systems) need_value "$@"; systems_list=$2; shift 2 ;;
	--clients) need_value "$@"; clients=$2; shift 2 ;;
	--watchers) need_value "$@"; watchers=$2; shift 2 ;;
	--duration) need_value "$@"; duration=$2; shift 2 ;;
	--warmup) need_value "$@"; warmup=$2; shift 2 ;;
	--rate) need_value "$@"; rate=$2; shift 2 ;;
	--runs) need_value "$@"; runs=$2; shift 2 ;;
	--no-serializable) serializable=; shift ;;
	--footprint) footprint=1; shift ;;
	--footprint-members) need_value "$@"; footprint_members=$2; shift 2 ;;
	--fill) need_value "$@"; fill=$2; shift 2 ;;
	--out) need_value "$@"; out=$2; shift 2 ;;
	--write) need_value "$@"; write=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage; die "unknown argument $1" ;;
	esac
done

# split_list NAME LIST ALLOWED...: checks a comma-separated list against
# the allowed words and prints it one per line.
split_list() {
	local name=$1 list=$2 w
	shift 2
	[[ -n $list ]] || die "$name is empty"
	IFS=, read -ra items <<<"$list"
	for w in "${items[@]}"; do
		[[ " $* " == *" $w "* ]] || die "$name: unknown value '$w' (want one of: $*)"
		echo "$w"
	done
}
# checked_list VAR NAME LIST ALLOWED...: split_list into the array VAR,
# exiting on a wrong value (split_list's die runs in a subshell).
checked_list() {
	local var=$1 lines
	shift
	lines=$(split_list "$@") || exit 1
	mapfile -t "$var" <<<"$lines"
}
members=() systems=() fp_members=()
checked_list members --members "$members_list" 1 3
checked_list systems --systems "$systems_list" arbor zookeeper etcd
workloads=()
if [[ $workloads_list != none ]]; then
	checked_list workloads --workloads "$workloads_list" create set get mixed watch lock
fi
checked_list fp_members --footprint-members "$footprint_members" 1 3
# in_range V LO HI: V is a whole number from LO to HI.
in_range() {
	[[ $1 =~ ^[0-9]{1,9}$ ]] && (($1 >= $2 && $1 <= $3))
}
in_range "$clients" 1 "$max_clients" || die "--clients $clients: want a whole number from 1 to $max_clients"
if [[ -n $watchers ]] && ! in_range "$watchers" 1 "$max_watchers"; then
	die "--watchers $watchers: want a whole number from 1 to $max_watchers"
fi
in_range "$fill" 1 "$max_fill" || die "--fill $fill: want a whole number from 1 to $max_fill"
# Durations as Go writes them; the tools check the bounds (≤ 10 minutes).
[[ $duration =~ ^([0-9]+(\.[0-9]+)?(ms|s|m))+$ ]] || die "--duration $duration: want a Go duration such as 10s or 1m30s"
[[ $warmup =~ ^([0-9]+(\.[0-9]+)?(ms|s|m))+$ || $warmup == 0 ]] || die "--warmup $warmup: want a Go duration such as 2s, or 0"
in_range "$runs" 1 20 || die "--runs $runs: want a whole number from 1 to 20"
[[ -z $rate ]] || in_range "$rate" 1 10000000 || die "--rate $rate: want a whole number of operations per second from 1 to 10000000"
((${#workloads[@]} > 0)) || [[ -n $footprint ]] || die "nothing to do: --workloads none without --footprint"
if [[ -n $write && -e $write && ! -f $write ]]; then
	die "--write $write: not a regular file"
fi

port_base=${CMP_PORT_BASE:-27000}
in_range "$port_base" 1024 64000 || die "CMP_PORT_BASE $port_base: want 1024 to 64000"
zk_heap=${ZK_HEAP:-1g}

# Packages: installed only if their programs are missing.
install_missing() {
	local want=()
	[[ " ${systems[*]} " == *" zookeeper "* && ! -f /usr/share/java/zookeeper.jar ]] && want+=(zookeeper)
	[[ " ${systems[*]} " == *" etcd "* ]] && ! command -v etcd >/dev/null && want+=(etcd-server)
	((${#want[@]})) || return 0
	say "installing ${want[*]} (apt-get)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
}
install_missing
for p in curl du awk od base64 timeout; do
	command -v "$p" >/dev/null || die "$p is needed and not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX")
cleanup() {
	local rc=$?
	bg_stop_all
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $(stat -f -c %T "$tmp") == tmpfs ]]; then
	say "warning: $tmp is on tmpfs, so fsync costs nothing; set TMPDIR to a disk"
fi
if [[ -n $out ]]; then
	mkdir -p "$out/logs" || die "--out $out: cannot create it"
	results=$out
else
	results=$tmp/results
	mkdir -p "$results/logs"
fi
logs=$results/logs
jsonl=$results/results.jsonl
: >"$jsonl"

say "building arbor, cmpbench and cmptable"
arbor=${ARBOR_BIN:-$tmp/bin/arbor}
cmpbench=${CMPBENCH_BIN:-$tmp/bin/cmpbench}
if [[ -z ${ARBOR_BIN:-} ]]; then
	(cd "$repo" && go build -o "$arbor" ./cmd/arbor) || die "building arbor failed"
fi
if [[ -z ${CMPBENCH_BIN:-} ]]; then
	(cd "$here" && go build -o "$cmpbench" ./cmd/cmpbench) || die "building cmpbench failed"
fi
(cd "$here" && go build -o "$tmp/bin/cmptable" ./cmd/cmptable) || die "building cmptable failed"
[[ -x $arbor ]] || die "ARBOR_BIN $arbor: not an executable"
[[ -x $cmpbench ]] || die "CMPBENCH_BIN $cmpbench: not an executable"

# machine_line prints the machine and versions as cmptable's machine line.
machine_line() {
	local cpu mem kernel gov java zk etcdv commit fs
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
	kernel=$(uname -r)
	gov=$(go version | sed 's/^go version //')
	java=$(java -version 2>&1 | head -n 1 || true)
	zk=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo "not installed")
	etcdv=$(dpkg-query -W -f='${Version}' etcd-server 2>/dev/null || echo "not installed")
	commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$repo" status --porcelain 2>/dev/null) ]]; then
		commit+=" (with uncommitted changes)"
	fi
	fs="$(df --output=fstype "$tmp" | tail -n 1) ($(df --output=source "$tmp" | tail -n 1))"
	printf '{"kind":"machine","date":%s,"nproc":%d,"cpu":%s,"memory":%s,"kernel":%s,"go":%s,"java":%s,"zookeeper":%s,"etcd":%s,"arbor_commit":%s,"filesystem":%s}\n' \
		"$(json_str "$(date -u '+%Y-%m-%d %H:%M UTC')")" "$(nproc)" "$(json_str "$cpu")" "$(json_str "$mem")" \
		"$(json_str "$kernel")" "$(json_str "$gov")" "$(json_str "$java")" "$(json_str "$zk")" \
		"$(json_str "$etcdv")" "$(json_str "$commit")" "$(json_str "$fs")"
}
machine_line >>"$jsonl"

# ---------------------------------------------------------------------------
# Clusters. start_cluster SYSTEM N starts N members in fresh data dirs and
# waits until they serve; member I's PID is in pids[I] (I from 1).
# client_addrs is the comma-separated list of their client addresses.

pids=()
datadirs=()
n=0
cur_system=
run_id=0

arbor_client_port() { echo $((port_base + 100 + $1)); }
arbor_peer_port() { echo $((port_base + 200 + $1)); }
zk_client_port() { echo $((port_base + 300 + $1)); }
zk_quorum_port() { echo $((port_base + 400 + $1)); }
zk_election_port() { echo $((port_base + 500 + $1)); }
etcd_client_port() { echo $((port_base + 600 + $1)); }
etcd_peer_port() { echo $((port_base + 700 + $1)); }

client_port() {
	case $cur_system in
	arbor) arbor_client_port "$1" ;;
	zookeeper) zk_client_port "$1" ;;
	etcd) etcd_client_port "$1" ;;
	esac
}

# start_member I: (re)starts member I of the current cluster on its data dir.
start_member() {
	local i=$1
	local log="$logs/run$run_id-$cur_system-$i.log"
	case $cur_system in
	arbor)
		local cluster="" j
		for ((j = 1; j <= n; j++)); do
			cluster+="${cluster:+,}$j=127.0.0.1:$(arbor_peer_port "$j")"
		done
		bg_start "$log" "$arbor" server --id "$i" --cluster "$cluster" --data-dir "${datadirs[i]}" \
			--listen "127.0.0.1:$(arbor_client_port "$i")" --log-level warn
		;;
	zookeeper)
		# zookeeper.jar's manifest names the jars it needs. Without an SLF4J
		# binding on the class path ZooKeeper logs nothing (quiet runs).
		local main=org.apache.zookeeper.server.quorum.QuorumPeerMain
		((n == 1)) && main=org.apache.zookeeper.server.ZooKeeperServerMain
		bg_start "$log" java "${zk_jvm[@]}" -XX:+UseG1GC -Dzookeeper.jmx.log4j.disable=true \
			-cp /usr/share/java/zookeeper.jar "$main" "${datadirs[i]}/zoo.cfg"
		;;
	etcd)
		local cluster="" j
		for ((j = 1; j <= n; j++)); do
			cluster+="${cluster:+,}m$j=http://127.0.0.1:$(etcd_peer_port "$j")"
		done
		local state=new
		[[ -d ${datadirs[i]}/member ]] && state=existing
		bg_start "$log" etcd --name "m$i" --data-dir "${datadirs[i]}" \
			--listen-client-urls "http://127.0.0.1:$(etcd_client_port "$i")" \
			--advertise-client-urls "http://127.0.0.1:$(etcd_client_port "$i")" \
			--listen-peer-urls "http://127.0.0.1:$(etcd_peer_port "$i")" \
			--initial-advertise-peer-urls "http://127.0.0.1:$(etcd_peer_port "$i")" \
			--initial-cluster "$cluster" --initial-cluster-state "$state" \
			--initial-cluster-token arbor-compare --log-level warn --logger zap
		;;
	esac
	pids[i]=$bg_pid
}

# zk_config I writes member I's zoo.cfg and myid.
zk_config() {
	local i=$1 d=${datadirs[$1]} j
	{
		echo "tickTime=2000"
		echo "initLimit=10"
		echo "syncLimit=5"
		echo "dataDir=$d"
		echo "clientPort=$(zk_client_port "$i")"
		echo "clientPortAddress=127.0.0.1"
		echo "maxClientCnxns=0"
		echo "# forceSync=yes is ZooKeeper's default: each transaction-log write is fsynced."
		echo "forceSync=yes"
		echo "admin.enableServer=false"
		echo "4lw.commands.whitelist=ruok,srvr,mntr"
		echo "autopurge.purgeInterval=0"
		if ((n > 1)); then
			for ((j = 1; j <= n; j++)); do
				echo "server.$j=127.0.0.1:$(zk_quorum_port "$j"):$(zk_election_port "$j")"
			done
		fi
	} >"$d/zoo.cfg"
	echo "$i" >"$d/myid"
}

# member_serving I: true once member I serves clients in its cluster role.
member_serving() {
	local i=$1 port
	port=$(client_port "$i")
	case $cur_system in
	arbor) "$arbor" --servers "127.0.0.1:$port" --timeout 2s --output json status --digest=false 2>/dev/null |
		grep -q '"leader":[1-9]' ;;
	zookeeper) [[ $(zk_ask "$port" srvr 2>/dev/null) == *Mode:* ]] ;;
	etcd) curl -sf -m 2 "http://127.0.0.1:$port/health" | grep -q '"health":"true"' ;;
	esac
}

# leader_index prints the index of the member that leads (1 for one member).
leader_index() {
	local i port
	((n == 1)) && { echo 1; return 0; }
	for ((i = 1; i <= n; i++)); do
		port=$(client_port "$i")
		case $cur_system in
		arbor)
			"$arbor" --servers "127.0.0.1:$port" --timeout 2s --output json status --digest=false 2>/dev/null |
				grep -q '"role":"leader"' && { echo "$i"; return 0; } ;;
		zookeeper)
			[[ $(zk_ask "$port" srvr 2>/dev/null) == *"Mode: leader"* ]] && { echo "$i"; return 0; } ;;
		etcd)
			local st
			st=$(etcd_status "$port" 2>/dev/null) || continue
			[[ -n $st && $(json_field member_id <<<"$st") == "$(json_field leader <<<"$st")" ]] && { echo "$i"; return 0; } ;;
		esac
	done
	return 1
}

# check_alive fails the run if a member's process has exited.
check_alive() {
	local i
	for ((i = 1; i <= n; i++)); do
		kill -0 "${pids[i]}" 2>/dev/null || die "$cur_system member $i exited; its log: $logs/run$run_id-$cur_system-$i.log"
	done
}

# cluster_ready: every member serves and one leads.
cluster_ready() {
	local i
	check_alive
	for ((i = 1; i <= n; i++)); do
		member_serving "$i" || return 1
	done
	leader_index >/dev/null
}

# start_cluster SYSTEM N [footprint]: a fresh cluster; for the footprint run
# ZooKeeper starts with a small heap floor, as its RSS follows -Xms.
start_cluster() {
	local i p
	cur_system=$1 n=$2
	run_id=$((run_id + 1))
	if [[ ${3:-} == footprint ]]; then
		zk_jvm=(-Xms64m -Xmx4g)
	else
		zk_jvm=(-Xms"$zk_heap" -Xmx"$zk_heap")
	fi
	for ((i = 1; i <= n; i++)); do
		for p in $(arbor_client_port "$i") $(arbor_peer_port "$i") $(zk_client_port "$i") $(zk_quorum_port "$i") \
			$(zk_election_port "$i") $(etcd_client_port "$i") $(etcd_peer_port "$i"); do
			port_free "$p" || die "port $p on 127.0.0.1 is in use (set CMP_PORT_BASE to move the ports)"
		done
	done
	pids=() datadirs=() client_addrs=
	rm -rf "$tmp/data"
	for ((i = 1; i <= n; i++)); do
		datadirs[i]=$tmp/data/$cur_system-$i
		mkdir -p "${datadirs[i]}"
		[[ $cur_system == zookeeper ]] && zk_config "$i"
		client_addrs+="${client_addrs:+,}127.0.0.1:$(client_port "$i")"
	done
	for ((i = 1; i <= n; i++)); do
		start_member "$i"
	done
	wait_until 60 "$cur_system ($n members) to elect a leader and serve" cluster_ready ||
		die "$cur_system did not come up; logs in $logs/run$run_id-$cur_system-*.log"
	say "$cur_system, $n member(s): serving on $client_addrs (leader: member $(leader_index))"
}

# stop_cluster stops every member of the current cluster and removes its data.
stop_cluster() {
	local i
	for ((i = 1; i <= n; i++)); do
		[[ -n ${pids[i]:-} ]] && bg_stop "${pids[i]}"
	done
	pids=()
	rm -rf "$tmp/data"
}

# ---------------------------------------------------------------------------
# Load runs.

# value_size W prints the value size each tool is given for workload W, so
# that the two tools' defaults cannot differ (empty: the lock holds none).
value_size() {
	case $1 in
	create | watch) echo 100 ;;
	set | get | mixed) echo 1024 ;;
	lock) echo "" ;;
	esac
}

# bench_run LABEL WORKLOAD EXTRA...: runs one workload against the current
# cluster and appends its JSON line, tagged with the cluster size (and
# system LABEL) to $jsonl. A failed run is recorded as failed.
bench_run() {
	local label=$1 w=$2 size line rc=0 err="$tmp/bench.err" log
	shift 2
	size=$(value_size "$w")
	local common=(--clients "$clients" --duration "$duration" --warmup "$warmup")
	[[ -n $rate ]] && common+=(--rate "$rate")
	[[ -n $size ]] && common+=(--value-size "$size")
	[[ $w == watch && -n $watchers ]] && common+=(--watchers "$watchers")
	log="$logs/run$run_id-$label-$w.log"
	say "$label, $n member(s): $w, $clients clients, $duration"
	# In the background, so that a signal reaches the trap at once; the
	# progress lines go to the terminal and the log.
	if [[ $cur_system == arbor ]]; then
		bg_start "$err" "$arbor" --servers "$client_addrs" --output json --timeout 30s bench --workload "$w" "${common[@]}" "$@"
	else
		bg_start "$err" "$cmpbench" -system "$cur_system" -servers "$client_addrs" -workload "$w" -json "${common[@]/#--/-}" "${@/#--/-}"
	fi
	wait "$bg_pid" || rc=$?
	bg_forget "$bg_pid"
	line=$(grep '^{' "$err" | tail -n 1 || true)
	grep -v '^{' "$err" >&2 || true
	cat "$err" >>"$log"
	rm -f "$err"
	if ((rc != 0)) || [[ -z $line ]]; then
		local why
		why=$(grep -v '^{' "$log" | grep -v '^ *[0-9]*s ' | tail -n 1)
		say "$label $w failed (exit $rc): $why"
		# As the tools report it: the watch workload's one client is its writer.
		local shown_clients=$clients shown_watchers=0
		[[ $w == watch ]] && shown_clients=1 shown_watchers=${watchers:-$clients}
		printf '{"members":%d,"system":%s,"workload":%s,"clients":%d,"value_size":%d,"watchers":%d,"failed":true,"first_error":%s}\n' \
			"$n" "$(json_str "$label")" "$(json_str "$w")" "$shown_clients" "${size:-0}" "$shown_watchers" \
			"$(json_str "exit $rc: ${why:-no output}")" >>"$jsonl"
		last_line=
		return 0
	fi
	# The tools print system as zookeeper or etcd; the label names variants.
	line=${line/\"system\":\"$cur_system\"/\"system\":\"$label\"}
	echo "{\"members\":$n,${line#\{}" >>"$jsonl"
	last_line=$line
}

run_workloads() {
	local w
	for w in "${workloads[@]}"; do
		check_alive
		bench_run "$cur_system" "$w"
		if [[ $cur_system == etcd && -n $serializable && ($w == get || $w == mixed) ]]; then
			bench_run etcd-serializable "$w" -serializable
		fi
	done
}

# ---------------------------------------------------------------------------
# Footprint.

# probe_read I: true if member I serves a read of a node the fill left.
probe_read() {
	local port
	port=$(client_port "$1")
	case $cur_system in
	arbor) "$arbor" --servers "127.0.0.1:$port" --timeout 2s get /arbor-bench/create >/dev/null 2>&1 ;;
	zookeeper) zk_read "$port" /arbor-bench/create ;;
	etcd) etcd_read "$port" /arbor-bench/compare-marker ;;
	esac
}

# progress_of I prints how far member I has got: the applied index (arbor),
# the last zxid (ZooKeeper) or the store revision (etcd).
progress_of() {
	local port out
	port=$(client_port "$1")
	case $cur_system in
	arbor)
		out=$("$arbor" --servers "127.0.0.1:$port" --timeout 2s --output json status --digest=false 2>/dev/null) || return 1
		json_field applied <<<"$out" ;;
	zookeeper)
		out=$(zk_ask "$port" srvr 2>/dev/null) || return 1
		out=$(sed -n 's/^Zxid: 0x//p' <<<"$out")
		[[ -n $out ]] || return 1
		echo $((16#$out)) ;;
	etcd)
		out=$(etcd_status "$port") || return 1
		json_field revision <<<"$out" ;;
	esac
}

# caught_up I L: member I serves and has reached the leader L's progress
# (for arbor's applied index: at least the leader's).
caught_up() {
	local mine theirs
	probe_read "$1" || return 1
	((n == 1)) && return 0
	mine=$(progress_of "$1") || return 1
	theirs=$(progress_of "$2") || return 1
	[[ -n $mine && -n $theirs ]] && ((mine >= theirs))
}

# zk_heap_used PID prints the JVM heap in use after a full GC, in bytes.
zk_heap_used() {
	timeout 60 jcmd "$1" GC.run >/dev/null 2>&1 || return 1
	timeout 60 jcmd "$1" GC.heap_info 2>/dev/null |
		sed -n 's/.*total [0-9]*K, used \([0-9]*\)K.*/\1/p' | head -n 1 | awk '{print $1 * 1024}'
}

# measure_footprint SYSTEM N: fill, measure, kill and restart, record.
measure_footprint() {
	local sys=$1 leader victim nodes=0 fill_rate=0 rss=0 heap='' disk=0 restart_ms=0 err='' t0 errors ops
	start_cluster "$sys" "$2" footprint
	say "$sys, $n member(s): filling with $fill nodes of 100 B (64 clients)"
	local saved_clients=$clients saved_duration=$duration saved_warmup=$warmup
	clients=64 duration=10m warmup=0s
	bench_run "$sys" create --max-ops "$fill" --keep
	clients=$saved_clients duration=$saved_duration warmup=$saved_warmup
	# The fill is a result of its own; keep it apart from the load table.
	sed -i '$d' "$jsonl"
	if [[ -n $last_line ]]; then
		echo "$last_line" >"$results/fill-$sys-$n.json"
		ops=$(json_field ops <<<"$last_line")
		errors=$(json_field errors <<<"$last_line")
		fill_rate=$(json_field ops_per_sec <<<"$last_line")
		nodes=$((ops - errors))
		((nodes >= fill)) || err="the fill stopped at $nodes nodes"
	else
		err="the fill failed (see $logs)"
	fi
	if [[ $sys == etcd ]]; then
		# etcd keys have no parent to read; the probe reads this one.
		etcd_put "$(client_port 1)" /arbor-bench/compare-marker x || err+="${err:+; }could not write the marker key"
	fi
	sleep 5 # let the members settle (compactions, a snapshot in progress)
	leader=$(leader_index) || die "$sys has no leader after the fill"
	rss=$(rss_bytes "${pids[leader]}") || rss=0
	if [[ $sys == zookeeper ]]; then
		heap=$(zk_heap_used "${pids[leader]}") || { heap=; err+="${err:+; }jcmd failed"; }
		rss=$(rss_bytes "${pids[leader]}") || rss=0
	fi
	disk=$(disk_bytes "${datadirs[leader]}")

	# Restart: the only member, or a follower.
	victim=$leader
	if ((n > 1)); then
		victim=$((leader % n + 1))
	fi
	bg_kill9 "${pids[victim]}"
	t0=$(now_ms)
	start_member "$victim"
	if wait_until 300 "$sys member $victim to serve again after its restart" caught_up "$victim" "$leader"; then
		restart_ms=$(($(now_ms) - t0))
	else
		err+="${err:+; }member $victim did not serve within 300 s of its restart"
	fi
	say "$sys, $n member(s): $nodes nodes, RSS $rss B${heap:+, heap $heap B}, disk $disk B, restart ${restart_ms} ms"
	printf '{"kind":"footprint","system":%s,"members":%d,"nodes":%d,"value_size":100,"fill_ops_per_sec":%s,"rss_bytes":%d,%s"disk_bytes":%d,"restart_ms":%d,"error":%s}\n' \
		"$(json_str "$sys")" "$n" "$nodes" "${fill_rate:-0}" "$rss" "${heap:+\"heap_used_bytes\":$heap,}" "$disk" "$restart_ms" \
		"$(json_str "$err")" >>"$jsonl"
	stop_cluster
}

# ---------------------------------------------------------------------------

if ((${#workloads[@]})); then
	for ((round = 1; round <= runs; round++)); do
		((runs == 1)) || say "round $round of $runs"
		for m in "${members[@]}"; do
			for sys in "${systems[@]}"; do
				start_cluster "$sys" "$m"
				run_workloads
				stop_cluster
			done
		done
	done
fi
if [[ -n $footprint ]]; then
	for m in "${fp_members[@]}"; do
		for sys in "${systems[@]}"; do
			measure_footprint "$sys" "$m"
		done
	done
fi

table=$results/table.md
"$tmp/bin/cmptable" "$jsonl" >"$table"
cat "$table"
if [[ -n $write ]]; then
	# --write may name the table --out keeps anyway.
	[[ $table -ef $write ]] || cp "$table" "$write"
	say "table written to $write"
fi
[[ -n $out ]] && say "results in $out (results.jsonl, table.md, logs/)"
if grep -q '"failed":true\|"error":"[^"]' "$jsonl"; then
	say "some runs failed or are incomplete; see the table's errors and $logs"
	exit 1
fi
