# report.sh: the Markdown tables scripts/bench prints (sourced by it): cells, ratios, medians and the
# description of the machine, for the loopback table (print_table) and the latency one
# (print_latency_table).

# --- formatting ------------------------------------------------------------------------------------------

fmt_rate() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else printf "%.1f", v }'; }
fmt_secs() { awk -v v="$1" 'BEGIN { if (v < 0.1) printf "%.3f", v; else if (v < 10) printf "%.2f", v; else printf "%.1f", v }'; }
fmt_ratio() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }

# cell ROW COL UNIT: the median of the runs, formatted, with failures noted ("" if no value at all).
# grep_again_ratio: L3b and L3c against the first grep of the same runs (lgrep1), per filesystem.
grep_again_ratio() {
	local kind a b c
	for kind in "${FSES[@]}"; do
		a=$(median "${VALS[lgrep1.$kind]:-}") b=$(median "${VALS[lgrepb.$kind]:-}") c=$(median "${VALS[lgrepc.$kind]:-}")
		[[ -n $a && -n $b && -n $c ]] || continue
		echo
		echo "L3b/L3c, $kind: the first grep of those runs took $(awk -v a="$a" 'BEGIN { printf "%.2f", a }') s; again after cache_timeout $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", b / a }') of it, after a remount $(awk -v a="$a" -v c="$c" 'BEGIN { printf "%.2fx", c / a }')"
	done
}

cell() {
	local row=$1 col=$2 unit=$3 m f s
	m=$(median "${VALS[$row.$col]:-}")
	f=${FAILS[$row.$col]:-0}
	if [[ -z $m ]]; then
		((f)) && echo "failed"
		return 0
	fi
	case $unit in
	MB/s) s="$(fmt_rate "$m") MB/s" ;;
	s) s="$(fmt_secs "$m") s" ;;
	rand)
		s="$(fmt_rate "$m") reads/s, p50 $(awk -v v="$(median "${VALS[rand_lat.$col]:-}")" 'BEGIN { printf "%.3f", v * 1000 }') ms"
		;;
	esac
	((f)) && s+=" ($f of $RUNS runs failed)"
	[[ $unit == rand && -n ${RAND_WRAPPED[$col]:-} ]] && s+=" (more reads than blocks: partly from the page cache)"
	echo "$s"
}
# ratio ROW COL UNIT [BASECOL]: COL against the raw figure (throughput: COL/raw; time: raw/COL).
ratio() {
	local row=$1 col=$2 unit=$3 base=${4:-raw} a b
	a=$(median "${VALS[$row.$col]:-}")
	b=$(median "${VALS[$row.$base]:-}")
	[[ -n $a && -n $b ]] || return 0
	case $unit in
	s) awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a }' ;;
	*) awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }' ;;
	esac
}
rss_cell() {
	[[ -n ${RSS[$1]:-} ]] || return 0
	awk -v k="${RSS[$1]}" 'BEGIN { printf "%.0f MiB", k / 1024 }'
}
rclone_cell() { # rclone_cell ROW UNIT [BASECOL]
	local v r
	if [[ ${FSES[*]} != *rclone* ]]; then
		echo "—"
		return
	fi
	v=$(cell "$1" rclone "$2")
	r=$(ratio "$1" rclone "$2" "${3:-raw}")
	echo "${v:-—}${r:+ (×$r)}"
}

size_label() { # size_label MIB
	if (($1 >= 1024 && $1 % 1024 == 0)); then echo "$(($1 / 1024)) GiB"; else echo "$1 MiB"; fi
}
thousands() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }

machine_line() {
	echo "$(nproc) CPUs, Linux $(uname -r), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo); $(date -u '+%Y-%m-%d %H:%M UTC')"
}

print_table() {
	local ver
	echo "ftpfs benchmark: $(machine_line)"
	echo
	echo "- server: $KIND ${SERVER_VERSION:-(version unknown)} on 127.0.0.1 (loopback), serving a directory on $(stat -f -c %T "$SRV") (stat -f)"
	echo "- network: loopback, no added delay (0 ms round trip); scripts/bench --rtt MS runs the latency workloads through a simulated link and prints the latency table instead"
	ver=$("$FTPFS" --version 2>&1 | head -n 1 || true)
	echo "- ftpfs: ${ver:-unknown}, $FTPFS_ORIGIN; mount options port=$PORT,user=$FTP_USER,password_file=...,cache_dir=... (defaults otherwise)"
	echo "- rclone: $RCLONE_NOTE"
	echo "- each figure is the median of $RUNS run(s); every run is cold: sync and drop_caches before it$( ((DROP_OK)) || echo ' (FAILED: caches were NOT dropped)'), and a fresh mount"
	echo "- ratio: throughput rows (MB/s, reads/s) are ftpfs ÷ raw, time rows (s) are raw ÷ ftpfs, so ≥ 1 means ftpfs is at least as fast as the raw protocol; MB = 10^6 bytes"
	echo "- raw times start after the login (ftpfs logs in when it mounts, which is not timed either): curl's time_total − time_pretransfer; ftplib's from after login to the last reply; the $PAR_N curls at once from the first transfer's start to the last one's end
- ftpfs peak RSS: VmHWM of the ftpfs process at the end of the workload, the largest over its runs (one fresh mount per run)"
	echo
	echo "| workload | ftpfs | raw | ratio ftpfs/raw | rclone | ftpfs peak RSS |"
	echo "| --- | --- | --- | --- | --- | --- |"
	row() { # row KEY UNIT LABEL RAW-TOOL
		local key=$1 unit=$2 label=$3 tool=$4 raw
		raw=$(cell "$key" raw "$unit")
		echo "| $label | $(cell "$key" ftpfs "$unit") | ${raw:-—}${raw:+ ($tool)} | $(ratio "$key" ftpfs "$unit") | $(rclone_cell "$key" "$unit") | $(rss_cell "$key") |"
	}
	row seqread MB/s "1. sequential read, $(size_label "$SEQ_MIB") file (cat)" "curl RETR"
	row seqwrite MB/s "2. sequential write, $(size_label "$WRITE_MIB") file (cp; server copy checked)" "curl -T, STOR"
	row ls_cold s "3a. ls -l, $(thousands "$LS_N")-file dir, cold mount" "curl LIST"
	row ls_warm s "3b. ls -l, same dir, warm (2nd ls, same mount)" "curl LIST, cold"
	local lcl lr
	lcl=$(cell ls_warm local s)
	lr=$(ratio ls_warm ftpfs s local)
	echo "| 3c. ls -l, same dir, warm: ftpfs vs local disk | $(cell ls_warm ftpfs s) | ${lcl:+local disk: }${lcl:-—} | $lr${lr:+ (local ÷ ftpfs)} | $(rclone_cell ls_warm s local) | $(rss_cell ls_warm) |"
	row find s "4. find, $(thousands "$TREE_FILES") files in $TREE_DIRS dirs, cold mount" "ftplib: MLSD/LIST of each dir, 1 session"
	row rand rand "5. random 4 KiB reads, $(size_label "$RAND_MIB") file, ${RAND_SECS} s ($RAND_TOOL)" "ftplib: REST+RETR per read, 1 session"
	row untar s "6a. untar $(thousands "$SRC_N") files ($SRC_DIRS dirs, 100 B-20 KB) into the mount (diff -r on server ok)" "ftplib: MKD+STOR each, 1 session"
	row cpout s "6b. cp -r of that tree back to local disk, cold mount" "ftplib: LIST+RETR each, 1 session"
	row par MB/s "7. $PAR_N readers at once, $PAR_N × $(size_label "$PAR_MIB") files (cat), aggregate" "$PAR_N curls at once"
	row copy s "8a. cp of a $(size_label "$COPY_MIB") file within the mount (copy_file_range; the copy checked on the server)" "$(copy_tool copy)"
	row copyrw s "8b. the same with cp --reflink=never (cp reads and writes through the mount)" "$(copy_tool copyrw)"
	copy_ratio copy copyrw 8
	echo
	echo "FTP commands ftpfs sent for 8 (its last run): cp: ${VERBS[copy]:-—}; cp --reflink=never: ${VERBS[copyrw]:-—}"
}

# copy_tool ROW: how the raw client copied in workload 8 (L8).
copy_tool() {
	case ${COPY_RAW[$1]:-} in
	site-copy) echo "ftplib: SITE CPFR+CPTO" ;;
	retr-stor) echo "ftplib: RETR into STOR, 2 sessions" ;;
	*) echo "ftplib" ;;
	esac
}
# copy_ratio ROW ROWRW LABEL: under the table, after a blank line, ftpfs's cp against its
# cp --reflink=never.
copy_ratio() {
	local a b
	a=$(median "${VALS[$1.ftpfs]:-}")
	b=$(median "${VALS[$2.ftpfs]:-}")
	[[ -n $a && -n $b ]] || return 0
	echo
	echo "$3: ftpfs's cp took $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')x the time of its cp --reflink=never (cp reading and writing through the mount)."
}

# cmds_cell ROW [PERFILE]: ftpfs's FTP commands for the workload: the median over the runs (and the
# range where runs differ), per file too when PERFILE is given.
cmds_cell() {
	local row=$1 per=${2:-} m lo hi s
	m=$(median "${CMDS[$row]:-}")
	[[ -n $m ]] || { echo "—" && return; }
	lo=$(tr ' ' '\n' <<<"${CMDS[$row]}" | grep . | sort -n | head -n 1)
	hi=$(tr ' ' '\n' <<<"${CMDS[$row]}" | grep . | sort -n | tail -n 1)
	s=$(awk -v v="$m" 'BEGIN { printf "%.0f", v }')
	[[ $lo == "$hi" ]] || s+=" ($lo-$hi)"
	[[ -z $per ]] || s+=", $(awk -v v="$m" -v n="$per" 'BEGIN { printf "%.1f", v / n }') per file"
	echo "$s"
}
# rtt_note ROW FILES: the median time as round trips of the simulated link per file (directories
# included in the time, not in FILES).
rtt_note() {
	local m
	m=$(median "${VALS[$1.ftpfs]:-}")
	[[ -n $m ]] || return 0
	echo " ($(awk -v v="$m" -v r="$RTT" -v n="$2" 'BEGIN { printf "%.1f", v / (r / 1000) / n }') round trips per file)"
}
# done_note ROW KIND WHAT: how many files were complete on the server, the worst run; how long the
# unmount took, the median.
done_note() {
	local a b u
	[[ -n ${COMPLETE[$1.$2.exit]:-} ]] || return 0
	a=$(tr ' ' '\n' <<<"${COMPLETE[$1.$2.exit]}" | grep . | sort -n | head -n 1)
	b=$(tr ' ' '\n' <<<"${COMPLETE[$1.$2.after]}" | grep . | sort -n | head -n 1)
	u=$(median "${COMPLETE[$1.$2.unmount]:-}")
	echo "; complete on the server: $a/$LSRC_N files when $3 exited, $b/$LSRC_N after ftpfs exited (unmount${u:+: $(fmt_secs "$u") s})"
}

print_latency_table() {
	local ver
	echo "ftpfs latency benchmark, ${RTT} ms round trip: $(machine_line)"
	echo
	echo "- network: a simulated link with a ${RTT} ms round-trip time: scripts/latency-proxy on 127.0.0.2 delays every byte $(awk -v r="$RTT" 'BEGIN { printf "%g", r / 2 }') ms each way, in front of the server's control port and passive ports; a new connection costs one more round trip before the server accepts it, as on a real link; no bandwidth limit, no loss. ftpfs, curl and ftplib all connect to 127.0.0.2. (At 0 ms, without --rtt, scripts/bench prints the usual table on loopback instead of this one.)"
	echo "- server: $KIND ${SERVER_VERSION:-(version unknown)} on 127.0.0.1 behind the proxy (PASV replies name 127.0.0.2), serving a directory on $(stat -f -c %T "$SRV") (stat -f)"
	ver=$("$FTPFS" --version 2>&1 | head -n 1 || true)
	echo "- ftpfs: ${ver:-unknown}, $FTPFS_ORIGIN; mounted as 127.0.0.2: with options port=$PORT,user=$FTP_USER,password_file=...,cache_dir=...,debug,log_file=... (defaults otherwise), and writeback too for L5w"
	echo "- rclone: $RCLONE_NOTE$([[ ${FSES[*]} != *rclone* ]] || echo '; --vfs-cache-mode writes for L5w')"
	echo "- each figure is the median of $RUNS run(s); every run is cold: sync and drop_caches before it$( ((DROP_OK)) || echo ' (FAILED: caches were NOT dropped)'), and a fresh mount"
	echo "- ratio: raw ÷ ftpfs (every row is a time), so ≥ 1 means ftpfs is at least as fast as the raw protocol over the same link; MB = 10^6 bytes"
	echo "- raw: one session through the same proxy, timed from after the login (ftpfs logs in when it mounts, which is not timed either): curl's from the reply to its PWD (the end of its login) to the transfer's 226, from curl -v --trace-time (CWD, EPSV, TYPE and the transfer command are in it); ftplib's from after login to the last reply, sending TYPE once per session and per directory or file only PASV and the transfer command (MLSD, RETR; MKD, STOR)"
	echo "- FTP commands: the lines with msg=\"ftp send\" that ftpfs (-o debug) logged during the workload (L5w: until ftpfs exited after the unmount, its uploads included but not the QUITs of its exit), the median over the runs (the range where they differ)"
	echo "- source tree: $LSRC_N files in $((LSRC_ENTRIES - LSRC_N)) directories, $LSRC_KB MB (100 B to ~$(find "$LOCAL/src" -type f -printf '%s\n' | sort -n | tail -n 1 | awk '{ printf "%.0f", $1 / 1000 }') KB text files)"
	echo
	echo "| workload | ftpfs | raw | ratio raw/ftpfs | rclone | FTP commands sent by ftpfs |"
	echo "| --- | --- | --- | --- | --- | --- |"
	lrow() { # lrow KEY LABEL RAW-TOOL [PERFILE [WHAT]]
		local key=$1 label=$2 tool=$3 per=${4:-} what=${5:-} raw
		raw=$(cell "$key" raw s)
		echo "| $label | $(cell "$key" ftpfs s)${per:+$(rtt_note "$key" "$per")}${what:+$(done_note "$key" ftpfs "$what")} | ${raw:-—}${raw:+ ($tool)} | $(ratio "$key" ftpfs s) | $(rclone_cell "$key" s) | $(cmds_cell "$key" "$per") |"
	}
	lrow lls "L1. ls -l, $(thousands "$LFLAT_N")-file dir, cold mount" "curl LIST"
	lrow lfind "L2. find over the source tree, cold mount" "ftplib: MLSD/LIST of each dir"
	lrow lgrep "L3. grep -r over the source tree (reads every file)" "ftplib: LIST+RETR of every file"
	VALS[lgrepb.raw]=${VALS[lgrep.raw]:-} VALS[lgrepc.raw]=${VALS[lgrep.raw]:-} # the raw client has no cache
	lrow lgrepb "L3b. grep -r again after cache_timeout, same mount (rclone: --vfs-cache-mode full)" "ftplib: LIST+RETR of every file; the runs of L3"
	lrow lgrepc "L3c. grep -r after a remount, cache_dir kept (rclone: --vfs-cache-mode full, --cache-dir kept)" "ftplib: LIST+RETR of every file; the runs of L3"
	lrow lcat "L4. cat of a $(size_label "$LCAT_MIB") file" "curl RETR"
	lrow ltar "L5. tar -x of the source tree into the mount" "ftplib: MKD+STOR of every file" "$LSRC_N" tar
	lrow ltarw "L5w. tar -x of the source tree into the mount with -o writeback (rclone: --vfs-cache-mode writes)" "ftplib: MKD+STOR of every file; the runs of L5" "$LSRC_N" tar
	lrow lrsync "L6. rsync -a of the source tree out of the mount" "ftplib: LIST+RETR of every file; the runs of L3"
	lrow lcp "L7. cp -r of the source tree into the mount (diff -r on server ok)" "ftplib: MKD+STOR of every file; the runs of L5" "$LSRC_N" cp
	lrow lcopy "L8a. cp of a $(size_label "$COPY_MIB") file within the mount (copy_file_range)" "$(copy_tool lcopy)"
	lrow lcopyrw "L8b. the same with cp --reflink=never (cp reads and writes through the mount)" "$(copy_tool lcopyrw)"
	copy_ratio lcopy lcopyrw L8
	grep_again_ratio
	echo
	echo "FTP commands ftpfs sent, by command (its last run of each workload):"
	echo
	local key
	for key in lls lfind lgrep lgrepb lgrepc lcat ltar ltarw lrsync lcp lcopy lcopyrw; do
		[[ -z ${VERBS[$key]:-} ]] || echo "- ${key#l}: ${VERBS[$key]}"
	done
}


# print_capped_table: C1 (--max-rate), times and ratios against the cap and curl.
print_capped_table() {
	local cap ver col label r
	cap=$(calc "$CAP_MIB * $MiB / $MAXRATE")
	echo "ftpfs capped-server benchmark, $( ((LATENCY)) && echo "${RTT} ms round trip" || echo loopback): $(machine_line)"
	echo
	echo "- server: $KIND ${SERVER_VERSION:-(version unknown)} on 127.0.0.1 capping each session at $MAXRATE bytes/s ($([[ $KIND == vsftpd ]] && echo "local_max_rate=$MAXRATE" || echo "-T $(((MAXRATE + 1023) / 1024))")), serving a directory on $(stat -f -c %T "$SRV")$( ((LATENCY)) && echo "; behind scripts/latency-proxy on 127.0.0.2 (${RTT} ms round trip)")"
	ver=$("$FTPFS" --version 2>&1 | head -n 1 || true)
	echo "- ftpfs: ${ver:-unknown}, $FTPFS_ORIGIN; defaults (parallel=4, connections=8) but debug,log_file=...; ftpfs1: the same with -o parallel=1"
	echo "- cap: $(size_label "$CAP_MIB") at $MAXRATE bytes/s, $(fmt_secs "$cap") s: the best one session can do; curl: one session, timed from after the login"
	echo "- each figure is the median of $RUNS run(s), each cold (drop_caches, fresh mount); ratios are cap ÷ time and curl ÷ time (≥ 1: faster)"
	echo
	echo "| cat of $(size_label "$CAP_MIB") | time | × the cap | × curl | RETR, REST sent by ftpfs |"
	echo "| --- | --- | --- | --- | --- |"
	for col in raw ftpfs ftpfs1 "${FSES[@]:1}"; do
		case $col in
		raw) label="curl (one session)" ;;
		ftpfs) label="ftpfs" ;;
		ftpfs1) label="ftpfs -o parallel=1" ;;
		*) label=$col ;;
		esac
		r=$(median "${VALS[capcat.$col]:-}")
		printf '| %s | %s | %s | %s | %s |\n' "$label" "$(cell capcat "$col" s)" \
			"${r:+$(awk -v a="$r" -v c="$cap" 'BEGIN { printf "%.2f", c / a }')}" \
			"$(ratio capcat "$col" s)" "$(verbs_of "capcat_$col")"
	done
}

# verbs_of ROW: the RETR and REST counts of the last run's commands (cmds_end), "" where none.
verbs_of() {
	local v=${VERBS[$1]:-}
	[[ -n $v ]] || return 0
	tr ',' '\n' <<<"$v" | sed 's/^ //' | grep -E '^(RETR|REST) ' | paste -sd ',' | sed 's/,/, /g'
}
