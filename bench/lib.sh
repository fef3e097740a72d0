# shellcheck shell=bash
# lib.sh: shell functions shared by the bench scripts. Source it from bash:
#
#   . "$(dirname "$0")/lib.sh"
#
# Processes started with bg_start are remembered by PID; bg_stop_all stops
# them (SIGTERM, then SIGKILL after a bound), so a script calls it from its
# EXIT trap. Every wait here is bounded. Only loopback addresses are used.

# say prints a progress line on stderr, prefixed with the script's name.
say() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# die prints an error on stderr and exits 1 (the EXIT trap cleans up).
die() {
	say "error: $*"
	exit 1
}

# bg_pids holds the PIDs bg_start started and bg_stop has not stopped.
bg_pids=()

# bg_start LOG CMD ARGS...: runs CMD in the background with stdout and
# stderr appended to LOG, and sets bg_pid to its PID.
bg_start() {
	local log=$1
	shift
	"$@" >>"$log" 2>&1 &
	bg_pid=$!
	bg_pids+=("$bg_pid")
}

# bg_forget PID: drops PID from the list bg_stop_all stops.
bg_forget() {
	local keep=() p
	for p in "${bg_pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	bg_pids=("${keep[@]}")
}

# bg_stop PID [GRACE_TENTHS]: SIGTERM, wait up to GRACE_TENTHS tenths of a
# second (default 100), then SIGKILL; reaps it.
bg_stop() {
	local pid=$1 grace=${2:-100} i
	bg_forget "$pid"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# bg_kill9 PID: SIGKILL at once (a crash), and reap it.
bg_kill9() {
	bg_forget "$1"
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# bg_stop_all stops every process bg_start started, newest first.
bg_stop_all() {
	local i
	for ((i = ${#bg_pids[@]} - 1; i >= 0; i--)); do
		bg_stop "${bg_pids[i]}" 50
	done
}

# wait_until TIMEOUT_S WHAT CMD ARGS...: runs CMD every 0.1 s until it
# succeeds; fails with a message naming WHAT after TIMEOUT_S seconds.
wait_until() {
	local timeout=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			say "timed out after ${timeout}s waiting for $what"
			return 1
		fi
		sleep 0.1
	done
}

# port_free PORT: true if nothing listens on 127.0.0.1:PORT.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# now_ms prints a monotonic-enough wall clock in milliseconds.
now_ms() {
	local ns
	ns=$(date +%s%N)
	echo $((ns / 1000000))
}

# rss_bytes PID prints the resident set (VmRSS) of PID in bytes.
rss_bytes() {
	local kb
	kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null)
	[[ -n $kb ]] || return 1
	echo $((kb * 1024))
}

# disk_bytes DIR... prints the bytes used by the files under the DIRs.
disk_bytes() {
	du -scb "$@" | awk 'END {print $1}'
}

# json_str S prints S as a JSON string.
json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/ }
	s=${s//$'\n'/ }
	printf '"%s"' "$s"
}

# json_field NAME prints the value of the first "NAME": field of the JSON
# on stdin (a number, or a string without its quotes). Enough for the flat
# objects the tools here print; not a JSON parser.
json_field() {
	grep -o "\"$1\": *\"\?[^,\"}]*" | head -n 1 | sed 's/^[^:]*: *"\{0,1\}//'
}

# zk_ask PORT WORD: sends a ZooKeeper four-letter word to 127.0.0.1:PORT
# and prints the reply (at most 2 s).
zk_ask() {
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf %s "$2" >&3
	timeout 2 cat <&3
	exec 3<&-
}

# be32 N prints N as 4 big-endian bytes in printf escapes.
be32() {
	printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((($1 >> 24) & 255)) $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255))
}

# zk_read PORT PATH: true if the ZooKeeper member on 127.0.0.1:PORT serves
# a read (getData) of PATH and the node exists. It speaks the client
# protocol directly (no JVM to start, so the timing is the server's): a
# connect request, a getData, a closeSession, then checks the getData
# reply's error code.
zk_read() {
	local port=$1 path=$2 hex plen
	plen=${#path}
	hex=$(
		{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || exit 1
		# ConnectRequest: protocol version 0, last zxid 0, timeout 4000 ms,
		# session 0, a 16-byte zero password, readOnly false (45 bytes).
		printf %b "$(be32 45)$(be32 0)$(be32 0)$(be32 0)$(be32 4000)$(be32 0)$(be32 0)$(be32 16)$(be32 0)$(be32 0)$(be32 0)$(be32 0)\\x00" >&3
		# GetData: xid 1, op 4, the path, no watch.
		printf '%b%s%b' "$(be32 $((13 + plen)))$(be32 1)$(be32 4)$(be32 "$plen")" "$path" '\x00' >&3
		# CloseSession: xid 2, op -11; the server answers and closes.
		printf %b "$(be32 8)$(be32 2)\\xff\\xff\\xff\\xf5" >&3
		timeout 2 cat <&3 | od -An -v -tx1 | tr -d ' \n'
	) || return 1
	# The connect reply is 4 + 37 bytes; the getData reply header follows:
	# length (4), xid (4), zxid (8), error (4) — so the error code is bytes
	# 57..60 and the xid bytes 45..48.
	[[ ${#hex} -ge 122 && ${hex:90:8} == 00000001 && ${hex:114:8} == 00000000 ]]
}

# etcd_status PORT prints the JSON of etcd's maintenance status on
# 127.0.0.1:PORT (gRPC gateway; member id, leader id, revision, raft index).
etcd_status() {
	curl -sf -m 2 -X POST "http://127.0.0.1:$1/v3/maintenance/status" -d '{}'
}

# etcd_read PORT KEY: true if the etcd member on 127.0.0.1:PORT serves a
# linearizable read of KEY and the key exists.
etcd_read() {
	local key
	key=$(printf %s "$2" | base64 -w0)
	curl -sf -m 2 -X POST "http://127.0.0.1:$1/v3/kv/range" -d "{\"key\":\"$key\"}" | grep -q '"kvs"'
}

# etcd_put PORT KEY VALUE writes KEY through the gRPC gateway.
etcd_put() {
	local key value
	key=$(printf %s "$2" | base64 -w0)
	value=$(printf %s "$3" | base64 -w0)
	curl -sf -m 5 -X POST "http://127.0.0.1:$1/v3/kv/put" -d "{\"key\":\"$key\",\"value\":\"$value\"}" >/dev/null
}
