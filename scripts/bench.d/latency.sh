# latency.sh: the workloads of scripts/bench --rtt MS (sourced by it), L1 to L8, through
# scripts/latency-proxy; the same NAME_fs / NAME_raw shape as workloads.sh, with the FTP commands
# ftpfs sent counted from its debug log.

# --- the latency workloads (--rtt) ---------------------------------------------------------------------
# As above, each l*_fs function takes the filesystem kind and the run number and does one cold run on
# a fresh mount; each l*_raw one raw run. Everything goes through the latency proxy (FTP_ADDR).

# CMDS[row] holds ftpfs's FTP command counts of the runs; COMPLETE[row.kind.exit|after] the number of files
# complete on the server when tar/cp exited and after the mount process exited, COMPLETE[row.kind.unmount]
# how long the unmount took (SIGTERM to exit), in seconds.
declare -A CMDS=() COMPLETE=() VERBS=()
CMDS_OFF=0
cmds_begin() { CMDS_OFF=$(stat -c %s "$DEBUG_LOG" 2>/dev/null || echo 0); }
# cmds_end ROW KIND [EXITED]: count the commands ftpfs logged since cmds_begin; with EXITED (ftpfs has
# exited since: the count runs to its exit), not the QUITs it sends as it exits.
cmds_end() {
	local n skip='^$'
	[[ $2 == ftpfs ]] || return 0
	[[ -z ${3:-} ]] || skip='cmd="\{0,1\}QUIT\>'
	tail -c +$((CMDS_OFF + 1)) "$DEBUG_LOG" 2>/dev/null | grep 'msg="ftp send"' | grep -v -e "$skip" >"$WORK/sent" || true
	n=$(wc -l <"$WORK/sent")
	CMDS[$1]+="$n "
	# By verb, for the note under the table (the last run's).
	VERBS[$1]=$(sed -n 's/.* cmd="\{0,1\}\(SITE [A-Za-z]*\|[A-Za-z]*\).*/\1/p' "$WORK/sent" | sort | uniq -c | sort -k1,1nr -k2 |
		awk '{ c = $1; $1 = ""; sub(/^ /, ""); printf "%s%s %d", (NR > 1 ? ", " : ""), $0, c }')
	rm -f "$WORK/sent"
	log "  $1 ftpfs: $n FTP commands (${VERBS[$1]})"
}

# curl_v ARGS...: curl_ftp, its -v output with timestamps in $WORK/curl-v.
curl_v() { curl_ftp -v --trace-time --stderr "$WORK/curl-v" "$@"; }
# curl_after_login: from $WORK/curl-v, the seconds from the end of curl's login (the reply to its PWD,
# after which it logs "Entry path is") to the last reply it read (the transfer's 226). Removes the
# file (it shows the password).
curl_after_login() {
	local rc=0
	awk 'function secs(t, a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
		$2 == "*" && $3 == "Entry" && $4 == "path" { s = secs($1); have = 1 }
		have && $2 == "<" && $3 ~ /^[1-5][0-9][0-9]/ { e = secs($1); got = 1 }
		END { if (!got) exit 1; d = e - s; if (d < 0) d += 86400; printf "%.6f\n", d }' "$WORK/curl-v" || rc=1
	rm -f "$WORK/curl-v"
	return "$rc"
}
curl_failed() { # curl_failed WHAT: log curl's last words
	log "curl $1 failed: $(grep -v -e '> PASS' "$WORK/curl-v" 2>/dev/null | tail -n 2 | tr '\n' ' ')"
	rm -f "$WORK/curl-v"
}

# same_files DIR: "SAME TOTAL", how many files of the source tree DIR holds with the same bytes.
same_files() { "$PY" "$HELPER" same-files "$LOCAL/src" "$1" 2>/dev/null || echo "0 $LSRC_N"; }

# L1. ls -l of a big directory, cold
lls_fs() {
	local kind=$1 n ok=1
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	if timed ls_count "$MNT/flat" >"$WORK/got"; then
		n=$(<"$WORK/got")
		((n == LFLAT_N + 1)) || { log "$kind: ls -l showed $((n - 1)) entries, want $LFLAT_N" && ok=0; }
	else
		ok=0
	fi
	cmds_end lls "$kind"
	unmount_fs
	((ok)) && add lls "$kind" "$T"
}
lls_raw() {
	local n
	drop_caches
	curl_v -o "$WORK/listing" "$URL/flat/" || { curl_failed LIST && return 1; }
	T=$(curl_after_login) || { log "no timings in curl's -v output" && return 1; }
	n=$(grep -c 'file[0-9]' "$WORK/listing" || true)
	((n == LFLAT_N)) || { log "curl's listing of flat/ has $n files, want $LFLAT_N" && return 1; }
	add lls raw "$T"
}

# L2. find over the source tree
lfind_fs() {
	local kind=$1 n ok=1
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	if timed timeout --foreground "$TMO" find "$MNT/src" >"$WORK/got"; then
		n=$(wc -l <"$WORK/got")
		((n == LSRC_ENTRIES + 1)) || { log "$kind: find printed $n paths, want $((LSRC_ENTRIES + 1))" && ok=0; }
	else
		ok=0
	fi
	cmds_end lfind "$kind"
	unmount_fs
	((ok)) && add lfind "$kind" "$T"
}
lfind_raw() {
	local n
	drop_caches
	timeout "$TMO" "$PY" "$HELPER" walk /src >"$WORK/got" || return 1
	read -r T n <"$WORK/got" || return 1
	((n == LSRC_ENTRIES)) || { log "walk of /src found $n entries, want $LSRC_ENTRIES" && return 1; }
	add lfind raw "$T"
}

# The raw side of L3 and L6 is the same (LIST+RETR of every file), as is that of L5, L5w and L7 (MKD+STOR
# of every file): each is measured once per run, in L3 and L5, and shown in all those rows, which saves
# a fifth of the run time.

# raw_get_tree ROW ROW2: LIST+RETR of every file of /src to local disk in one session, checked with
# diff -r; the time counts for both rows.
raw_get_tree() {
	local ok=1 out=$LOCAL/get-raw
	rm -rf "$out"
	drop_caches
	timeout "$TMO" "$PY" "$HELPER" get-tree /src "$out" >"$WORK/got" || ok=0
	if ((ok)); then read -r T _ <"$WORK/got" || ok=0; fi
	if ((ok)) && ! diff -r "$LOCAL/src" "$out" >"$WORK/diff" 2>&1; then
		log "raw: the tree fetched differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	rm -rf "$out"
	raw_both "$ok" "$1" "$2"
}
# raw_both OK ROW ROW...: add T to every row if OK, else count a failure of every row but the first
# (run_workload counts that one).
raw_both() {
	local ok=$1 row
	shift
	if ((ok)); then
		for row; do add "$row" raw "$T"; done
	else
		for row in "${@:2}"; do fail "$row" raw; done
		return 1
	fi
}
# raw_put_tree RUN ROW...: MKD+STOR of the source tree into a new directory in one session, checked
# with diff -r on the server; the time counts for every ROW.
raw_put_tree() {
	local ok=1 dir=put-raw-$1
	shift
	drop_caches
	timeout "$TMO" "$PY" "$HELPER" put-tree "$LOCAL/src" "/$dir" >"$WORK/got" || ok=0
	if ((ok)); then read -r T _ <"$WORK/got" || ok=0; fi
	if ((ok)) && ! diff -r "$LOCAL/src" "$SRV/$dir" >"$WORK/diff" 2>&1; then
		log "raw: the server's copy differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	rm -rf "${SRV:?}/$dir"
	raw_both "$ok" "$@"
}

# L3. grep -r over the source tree
grep_tree() { # grep_tree DIR: grep -r for LGREP under DIR, paths relative to it, into $WORK/grep.out
	(cd "$1" && timeout --foreground "$TMO" grep -r -e "$LGREP" .) >"$WORK/grep.out"
}
lgrep_fs() {
	local kind=$1 ok=1
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	timed grep_tree "$MNT/src" || { log "$kind: grep -r failed" && ok=0; }
	cmds_end lgrep "$kind"
	unmount_fs
	if ((ok)) && ! sort "$WORK/grep.out" | cmp -s - "$WORK/grep.expected"; then
		log "$kind: grep -r over the mount printed other lines than over local disk"
		ok=0
	fi
	((ok)) && add lgrep "$kind" "$T"
}
lgrep_raw() { raw_get_tree lgrep lrsync; }

# L3b/L3c. grep -r again: after cache_timeout on the same mount (L3b), and after a remount (L3c), each
# against the first grep of the same run (lgrep1, a fresh mount and an empty cache_dir). ftpfs keeps
# what it read in its content cache (cache_dir/content); rclone gets --vfs-cache-mode full, its own
# cache of contents, kept in the same --cache-dir across the remount. The raw client has no cache: its
# figure is L3's.
GREP_TTL=2 # cache_timeout for L3b, so that the second grep runs after it
grep_check() { sort "$WORK/grep.out" | cmp -s - "$WORK/grep.expected" || { log "$1: grep -r printed other lines than over local disk" && return 1; }; }
lgrepc_fs() {
	local kind=$1 ok=1 t1 t2 extra=$MOUNT_EXTRA
	drop_caches
	MOUNT_EXTRA="$extra,cache_timeout=$GREP_TTL"
	RCLONE_CACHE_MODE=full RCLONE_EXTRA="--dir-cache-time ${GREP_TTL}s" mount_fs "$kind" || { MOUNT_EXTRA=$extra && return 1; }
	MOUNT_EXTRA=$extra
	timed grep_tree "$MNT/src" && grep_check "$kind" || ok=0
	t1=$T
	sleep $((GREP_TTL + 1))
	cmds_begin
	timed grep_tree "$MNT/src" && grep_check "$kind" || ok=0
	t2=$T
	cmds_end lgrepb "$kind"
	unmount_fs
	drop_caches
	KEEP_CACHE=1 RCLONE_CACHE_MODE=full mount_fs "$kind" || return 1
	cmds_begin
	timed grep_tree "$MNT/src" && grep_check "$kind" || ok=0
	cmds_end lgrepc "$kind"
	unmount_fs
	((ok)) || return 1
	add lgrep1 "$kind" "$t1"
	add lgrepb "$kind" "$t2"
	add lgrepc "$kind" "$T"
}
lgrepc_raw() { :; } # measured with L3

# L4. cat of a big file
lcat_fs() {
	local kind=$1 run=$2 ok=1
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	timed timeout --foreground "$TMO" cat "$MNT/cat.bin" >/dev/null || ok=0
	cmds_end lcat "$kind"
	# Check the bytes once (untimed, from the page cache the timed read just filled).
	if ((ok && run == 1)) && ! cmp -s "$MNT/cat.bin" "$SRV/cat.bin"; then
		log "$kind: $MNT/cat.bin differs from the server's file"
		ok=0
	fi
	unmount_fs
	((ok)) && add lcat "$kind" "$T"
}
lcat_raw() {
	local got
	drop_caches
	curl_v -o /dev/null -w '%{size_download}' "$URL/cat.bin" >"$WORK/got" || { curl_failed RETR && return 1; }
	T=$(curl_after_login) || { log "no timings in curl's -v output" && return 1; }
	got=$(<"$WORK/got")
	[[ $got == "$((LCAT_MIB * MiB))" ]] || { log "curl got $got bytes of cat.bin, want $((LCAT_MIB * MiB))" && return 1; }
	add lcat raw "$T"
}

# put_fs ROW KIND RUN CMD...: on a fresh mount, make the directory DIR (ROW-KIND-RUN) and run CMD... DIR,
# which puts the source tree there as DIR/src, timed; count how many files are complete on the server when CMD
# exits and after the mount process has exited, and time the unmount (SIGTERM to exit); the tree must be
# complete then. With MOUNT_WRITEBACK=1 the FTP commands are counted up to the exit (uploads included,
# QUITs not).
put_fs() {
	local row=$1 kind=$2 run=$3 dir=$1-$2-$3 ok=1 t="" same total after count_at_exit=0
	shift 3
	drop_caches
	mount_fs "$kind" || return 1
	if mkdir "$MNT/$dir"; then
		cmds_begin
		if timed timeout --foreground "$TMO" "$@" "$MNT/$dir"; then
			t=$T
		else
			log "$kind: $1 into the mount failed"
			ok=0
		fi
		if ((MOUNT_WRITEBACK)); then count_at_exit=1; else cmds_end "$row" "$kind"; fi
	else
		ok=0
	fi
	read -r same total <<<"$(same_files "$SRV/$dir/src")"
	timed unmount_fs || true
	((count_at_exit == 0)) || cmds_end "$row" "$kind" exited
	read -r after _ <<<"$(same_files "$SRV/$dir/src")"
	COMPLETE[$row.$kind.exit]+="$same "
	COMPLETE[$row.$kind.after]+="$after "
	COMPLETE[$row.$kind.unmount]+="$T "
	log "  $row $kind: $same of $total files complete on the server when $1 exited, $after after the unmount ($(fmt_secs "$T") s)"
	if ((ok)) && ! diff -r "$LOCAL/src" "$SRV/$dir/src" >"$WORK/diff" 2>&1; then
		log "$kind: the server's copy differs after the unmount: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		# For ftpfs that is a failure; for rclone (whose cache mode may leave files unsent) it is a
		# finding, which the counts of complete files show.
		[[ $kind == rclone ]] || ok=0
	fi
	rm -rf "${SRV:?}/$dir"
	((ok)) && add "$row" "$kind" "$t"
}
# L5. tar -x into the mount
ltar_fs() { put_fs ltar "$1" "$2" tar -xf "$LOCAL/src.tar" -C; }
ltar_raw() { raw_put_tree "$1" ltar ltarw lcp; }

# L5w. tar -x into a mount with -o writeback (rclone: --vfs-cache-mode writes)
ltarw_fs() {
	local MOUNT_WRITEBACK=1
	put_fs ltarw "$1" "$2" tar -xf "$LOCAL/src.tar" -C
}
ltarw_raw() { :; } # measured with L5

# L6. rsync -a out of the mount
lrsync_fs() {
	local kind=$1 ok=1 out=$LOCAL/rsync-$1
	rm -rf "$out"
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	timed timeout --foreground "$TMO" rsync -a "$MNT/src/" "$out/" || { log "$kind: rsync -a failed" && ok=0; }
	cmds_end lrsync "$kind"
	unmount_fs
	if ((ok)) && ! diff -r "$LOCAL/src" "$out" >"$WORK/diff" 2>&1; then
		log "$kind: the tree rsync copied out differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	rm -rf "$out"
	((ok)) && add lrsync "$kind" "$T"
}
lrsync_raw() { :; } # measured with L3

# L7. cp -r into the mount
lcp_fs() { put_fs lcp "$1" "$2" cp -r "$LOCAL/src"; }
lcp_raw() { :; } # measured with L5

# L8. cp of a file within the mount, and cp --reflink=never: workload 8 (workloads.sh) over the link
lcopy_fs() { copy_in_mount lcopy "$1" "$2"; }
lcopy_raw() { raw_copy lcopy "$1"; }
lcopyrw_fs() { copy_in_mount lcopyrw "$1" "$2" --reflink=never; }
lcopyrw_raw() { raw_copy lcopyrw "$1" stream; }

run_latency() {
	log "L1. ls -l of $LFLAT_N files, cold"
	run_workload lls lls
	log "L2. find over $LSRC_N files"
	run_workload lfind lfind
	log "L3. grep -r over $LSRC_N files"
	run_workload lgrep lgrep
	log "L3b/L3c. grep -r again over $LSRC_N files: after cache_timeout, and after a remount"
	run_workload lgrepc lgrepc
	log "L4. cat of $(size_label "$LCAT_MIB")"
	run_workload lcat lcat
	log "L5. tar -x of $LSRC_N files into the mount"
	run_workload ltar ltar
	log "L5w. tar -x of $LSRC_N files into the mount with -o writeback"
	run_workload ltarw ltarw
	log "L6. rsync -a of $LSRC_N files out of the mount"
	run_workload lrsync lrsync
	log "L7. cp -r of $LSRC_N files into the mount"
	run_workload lcp lcp
	log "L8. cp of $(size_label "$COPY_MIB") within the mount"
	run_workload lcopy lcopy
	run_workload lcopyrw lcopyrw
}

