# common.sh: the shared set-up of scripts/bench, sourced by it after the options and the temp dir are
# set: the cleanup on exit, mounting and unmounting ftpfs or rclone, cold caches, timing, and where the
# figures go (VALS, FAILS, RSS). It reads the globals scripts/bench sets (WORK, MNT, CACHE, KIND, ...).

mounted() { grep -qs " $MNT fuse" /proc/mounts; }

# proc_alive PID: PID exists and is not a zombie.
proc_alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]]
}

# stop_proxy: SIGTERM the latency proxy and wait (bounded) for it to exit; SIGKILL if it does not.
stop_proxy() {
	local pid=$PROXY_PID i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		log "latency-proxy did not exit within 5 s of SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	PROXY_PID=""
}

cleanup() {
	local rc=$? pid logs
	trap - EXIT INT TERM
	set +e
	# Our own background commands first (parallel readers), then the mount, then the latency proxy
	# (the mount may need the server to finish), then the server.
	for pid in $(jobs -p); do
		[[ $pid == "$MNT_PID" || $pid == "$PROXY_PID" ]] || kill -TERM "$pid" 2>/dev/null
	done
	# Not the long wait of a writeback mount here: its queue is in $WORK, which goes anyway.
	MNT_EXIT_WAIT=30
	[[ -n $MNT_PID ]] && unmount_fs
	if mounted; then
		umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
	fi
	stop_proxy
	if ((SERVER_STARTED)); then
		"$REPO/scripts/ftp-server" stop --state "$STATE" || log "warning: ftp-server stop failed"
	fi
	for pid in $(jobs -p); do
		kill -KILL "$pid" 2>/dev/null
	done
	if ((KEEP_LOGS)) && logs=$(mktemp -d "$BASE/ftpfs-bench-logs.XXXXXX"); then
		cp "$WORK"/*.log "$STATE"/*.log "$logs"/ 2>/dev/null
		log "logs (ftpfs, server) kept in $logs"
	fi
	if mounted; then
		log "warning: $MNT is still mounted; leaving $WORK in place"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}


# --- helpers ---------------------------------------------------------------------------------------------

DROP_OK=1
drop_caches() {
	timeout 300 sync || true
	if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		((DROP_OK == 0)) || log "warning: cannot write /proc/sys/vm/drop_caches: runs are not cold"
		DROP_OK=0
	fi
}

# timed CMD...: run CMD; T is its wall-clock time in seconds. Returns CMD's status.
timed() {
	local t0 t1 rc=0
	t0=$EPOCHREALTIME
	"$@" || rc=$?
	t1=$EPOCHREALTIME
	T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	return "$rc"
}

# calc EXPR: floating-point arithmetic.
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# mount_fs KIND: mount the server's root at MNT with ftpfs (or rclone) in the background; return once
# it shows in /proc/mounts. Sets MNT_PID. KEEP_CACHE=1 keeps cache_dir (and rclone's --cache-dir) from
# the mount before; RCLONE_CACHE_MODE and RCLONE_EXTRA change rclone's --vfs-cache-mode and add flags.
mount_fs() {
	local kind=$1 deadline logoff wb="" cache_mode=${RCLONE_CACHE_MODE:-off}
	((${KEEP_CACHE:-0})) || rm -rf "$CACHE"
	mkdir -p "$CACHE"
	logoff=$(stat -c %s "$WORK/$kind.log" 2>/dev/null || echo 0)
	MNT_EXIT_WAIT=30
	if ((MOUNT_WRITEBACK)); then
		wb=,writeback cache_mode=writes MNT_EXIT_WAIT=$TMO
	fi
	case $kind in
	ftpfs)
		"$FTPFS" -f "$FTP_ADDR:" "$MNT" -o "port=$PORT,user=$FTP_USER,password_file=$PWFILE,cache_dir=$CACHE$MOUNT_EXTRA$wb" \
			</dev/null >>"$WORK/ftpfs.log" 2>&1 &
		;;
	rclone)
		RCLONE_CONFIG=$WORK/rclone.conf RCLONE_FTP_HOST=$FTP_ADDR RCLONE_FTP_PORT=$PORT \
			RCLONE_FTP_USER=$FTP_USER RCLONE_FTP_PASS=$RCLONE_PASS \
			rclone mount :ftp: "$MNT" --vfs-cache-mode "$cache_mode" --cache-dir "$CACHE" ${RCLONE_EXTRA:-} \
			</dev/null >>"$WORK/rclone.log" 2>&1 &
		;;
	esac
	MNT_PID=$! MNT_KIND=$kind
	deadline=$((SECONDS + 30))
	until mounted; do
		if ! proc_alive "$MNT_PID"; then
			wait "$MNT_PID" 2>/dev/null || true
			MNT_PID=""
			log "$kind exited without mounting: $(tail -c +$((logoff + 1)) "$WORK/$kind.log" | tail -n 3 | tr '\n' ' ')"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "$kind did not mount within 30 s"
			unmount_fs
			return 1
		fi
		sleep 0.05
	done
}

# unmount_fs: record the mount process's peak RSS in LAST_RSS_KB, SIGTERM it and wait (up to
# MNT_EXIT_WAIT seconds) for it to unmount and exit; lazy unmount and SIGKILL if it does not.
unmount_fs() {
	local pid=$MNT_PID i
	[[ -n $pid ]] || return 0
	LAST_RSS_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < MNT_EXIT_WAIT * 10; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		log "$MNT_KIND did not exit within $MNT_EXIT_WAIT s of SIGTERM: lazy unmount and SIGKILL"
		umount -l "$MNT" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			proc_alive "$pid" || break
			sleep 0.1
		done
	fi
	proc_alive "$pid" || wait "$pid" 2>/dev/null || true
	MNT_PID=""
	if mounted; then
		umount -l "$MNT" 2>/dev/null || true
	fi
	! mounted
}

# Results: VALS[row.col] holds the values of the runs ("col" is raw, local, ftpfs or rclone),
# FAILS[row.col] the number of failed runs, RSS[row] the largest VmHWM (kB) of ftpfs.
declare -A VALS=() FAILS=() RSS=()
add() { # add ROW COL VALUE: one run's figure
	VALS[$1.$2]+="$3 "
	log "  $1 $2: $3"
}
fail() {
	FAILS[$1.$2]=$((${FAILS[$1.$2]:-0} + 1))
	KEEP_LOGS=1
	log "FAILED: $1 ($2)${3:+: $3}"
}
note_rss() { # note_rss ROW...: after unmount_fs of an ftpfs mount
	local row
	[[ $MNT_KIND == ftpfs && -n $LAST_RSS_KB ]] || return 0
	for row; do
		if [[ -z ${RSS[$row]:-} ]] || ((LAST_RSS_KB > RSS[$row])); then
			RSS[$row]=$LAST_RSS_KB
		fi
	done
}
median() { # prints nothing, and succeeds, for no values (a workload ONLY left out)
	tr ' ' '\n' <<<"$1" | { grep . || true; } | sort -g |
		awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

curl_ftp() { curl -sS --max-time "$TMO" -K "$CURLRC" "$@"; }
# The raw side is timed from after the login, as ftpfs logs in when it mounts, which is not timed:
# curl's time_pretransfer is the time to connect, log in and send the commands before the transfer.
CURL_TIME='%{time_pretransfer} %{time_total}'
curl_time() { # curl_time FILE: "PRE TOTAL REST..." from curl -w "$CURL_TIME REST" -> "TOTAL-PRE REST..."
	awk '{ t = $2 - $1; $1 = ""; $2 = sprintf("%.6f", t); sub(/^ /, ""); print }' "$1"
}
URL=""

