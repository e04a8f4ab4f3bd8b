# workloads.sh: the loopback workloads of scripts/bench (sourced by it; the list is in its header).
# A workload NAME is two functions, NAME_fs KIND RUN (through a mount: ftpfs or rclone) and NAME_raw
# RUN (a raw FTP client), each doing one cold run and recording its figures with add; run_workload
# runs both RUNS times. To add one: write the pair, call run_workload in scripts/bench's main, and add
# its row to print_table in report.sh.

# --- the workloads ------------------------------------------------------------------------------------
# Each *_fs function takes the filesystem kind (ftpfs or rclone) and does one cold run; each *_raw
# function one raw run. They return non-zero (and log why) on failure.

# 1. sequential read
seqread_fs() {
	local kind=$1 run=$2 size=$((SEQ_MIB * MiB)) ok=1
	drop_caches
	mount_fs "$kind" || return 1
	timed timeout --foreground "$TMO" cat "$MNT/seq.bin" >/dev/null || ok=0
	# Check the bytes once (untimed, from the page cache the timed read just filled).
	if ((ok && run == 1)) && ! cmp -s "$MNT/seq.bin" "$SRV/seq.bin"; then
		log "$kind: $MNT/seq.bin differs from the server's file"
		ok=0
	fi
	unmount_fs
	note_rss seqread
	((ok)) && add seqread "$kind" "$(calc "$size / $T / 1e6")"
}
seqread_raw() {
	local size=$((SEQ_MIB * MiB)) got
	drop_caches
	curl_ftp -o /dev/null -w "$CURL_TIME %{size_download}" "$URL/seq.bin" >"$WORK/got" || return 1
	read -r T got < <(curl_time "$WORK/got")
	[[ $got == "$size" ]] || { log "curl got $got bytes of seq.bin, want $size" && return 1; }
	add seqread raw "$(calc "$size / $T / 1e6")"
}

# 2. sequential write
check_upload() { # check_upload NAME: the server's copy is complete
	local got
	got=$(stat -c %s "$SRV/$1" 2>/dev/null || echo missing)
	if [[ $got != "$((WRITE_MIB * MiB))" ]]; then
		log "the server's $1 has size $got right after the upload returned, want $((WRITE_MIB * MiB))"
		return 1
	fi
	cmp -s "$LOCAL/write.bin" "$SRV/$1" || { log "the server's $1 differs from the source" && return 1; }
}
write_prepare() {
	rm -f "$SRV/$1"
	drop_caches
	cat "$LOCAL/write.bin" >/dev/null # the source comes from the page cache for both sides
}
seqwrite_fs() {
	local kind=$1 name=write-$1.bin ok=1
	write_prepare "$name"
	mount_fs "$kind" || return 1
	timed timeout --foreground "$TMO" cp "$LOCAL/write.bin" "$MNT/$name" || ok=0
	((ok)) && { check_upload "$name" || ok=0; }
	unmount_fs
	note_rss seqwrite
	rm -f "$SRV/$name"
	((ok)) && add seqwrite "$kind" "$(calc "$WRITE_MIB * $MiB / $T / 1e6")"
}
seqwrite_raw() {
	local ok=1
	write_prepare write-raw.bin
	curl_ftp -T "$LOCAL/write.bin" -w "$CURL_TIME" "$URL/write-raw.bin" >"$WORK/got" || ok=0
	read -r T < <(curl_time "$WORK/got")
	((ok)) && { check_upload write-raw.bin || ok=0; }
	rm -f "$SRV/write-raw.bin"
	((ok)) && add seqwrite raw "$(calc "$WRITE_MIB * $MiB / $T / 1e6")"
}

# 3. ls -l of a big directory
ls_count() { # ls_count DIR: ls -l DIR, print the number of lines
	timeout --foreground "$TMO" ls -l "$1" | wc -l
}
ls_fs() {
	local kind=$1 n ok=1 cold
	drop_caches
	mount_fs "$kind" || {
		fail ls_warm "$kind"
		return 1
	}
	if timed ls_count "$MNT/big" >"$WORK/got"; then
		cold=$T
		n=$(<"$WORK/got")
		((n == LS_N + 1)) || { log "$kind: cold ls -l showed $((n - 1)) entries, want $LS_N" && ok=0; }
		if timed ls_count "$MNT/big" >"$WORK/got"; then
			n=$(<"$WORK/got")
			((n == LS_N + 1)) || { log "$kind: warm ls -l showed $((n - 1)) entries, want $LS_N" && ok=0; }
		else
			ok=0
		fi
	else
		ok=0
	fi
	unmount_fs
	note_rss ls_cold ls_warm
	((ok)) || {
		fail ls_warm "$kind"
		return 1
	}
	add ls_cold "$kind" "$cold"
	add ls_warm "$kind" "$T"
}
ls_raw() {
	local n
	drop_caches
	if ! curl_ftp -o "$WORK/listing" -w "$CURL_TIME" "$URL/big/" >"$WORK/got"; then
		fail ls_warm raw
		return 1
	fi
	read -r T < <(curl_time "$WORK/got")
	n=$(grep -c 'file[0-9]' "$WORK/listing" || true)
	if ((n != LS_N)); then
		log "curl's listing of big/ has $n files, want $LS_N"
		fail ls_warm raw
		return 1
	fi
	add ls_cold raw "$T"
	add ls_warm raw "$T"
}
ls_local() {
	ls_count "$LOCAL/big" >/dev/null # warm it
	timed ls_count "$LOCAL/big" >/dev/null || return 1
	add ls_warm local "$T"
}

# 4. find over a tree
find_fs() {
	local kind=$1 n ok=1
	drop_caches
	mount_fs "$kind" || return 1
	if timed timeout --foreground "$TMO" find "$MNT/tree" >"$WORK/got"; then
		n=$(wc -l <"$WORK/got")
		((n == TREE_FILES + TREE_DIRS + 1)) ||
			{ log "$kind: find printed $n paths, want $((TREE_FILES + TREE_DIRS + 1))" && ok=0; }
	else
		ok=0
	fi
	unmount_fs
	note_rss find
	((ok)) && add find "$kind" "$T"
}
find_raw() {
	local n
	drop_caches
	timeout "$TMO" "$PY" "$HELPER" walk /tree >"$WORK/got" || return 1
	read -r T n <"$WORK/got"
	((n == TREE_FILES + TREE_DIRS)) || { log "walk of /tree found $n entries, want $((TREE_FILES + TREE_DIRS))" && return 1; }
	add find raw "$T"
}

# 5. random 4 KiB reads
RAND_TOOL=fio
declare -A RAND_WRAPPED=()
command -v fio >/dev/null || RAND_TOOL=python3
randread_fs() {
	local kind=$1 ok=1 out iops lat n
	drop_caches
	mount_fs "$kind" || return 1
	if [[ $RAND_TOOL == fio ]]; then
		# --readonly: fio must not lay out (write) the file; direct=0: FUSE page cache as apps see it.
		if timeout --foreground "$TMO" fio --name=r --filename="$MNT/par0.bin" --readonly --rw=randread \
			--bs=4k --size="${RAND_MIB}M" --runtime="$RAND_SECS" --time_based --direct=0 --ioengine=psync \
			--numjobs=1 --output-format=json >"$WORK/fio.json" 2>"$WORK/fio.err"; then
			out=$("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]["read"]
print("%.1f %.9f %d" % (r["iops"], r["clat_ns"]["percentile"]["50.000000"] / 1e9, r["total_ios"]))
' "$WORK/fio.json") || ok=0
		else
			log "fio failed: $(tail -n 2 "$WORK/fio.err" | tr '\n' ' ')"
			ok=0
		fi
	else
		out=$(timeout --foreground "$TMO" "$PY" "$HELPER" local-randread "$MNT/par0.bin" "$((RAND_MIB * MiB))" "$RAND_SECS") || ok=0
	fi
	unmount_fs
	note_rss rand
	((ok)) || return 1
	read -r iops lat n <<<"$out"
	add rand "$kind" "$iops"
	add rand_lat "$kind" "$lat"
	if ((n > RAND_MIB * MiB / 4096)); then
		log "$kind: $n random reads > the file's $((RAND_MIB * MiB / 4096)) blocks: the later ones came from the page cache"
		RAND_WRAPPED[$kind]=1
	fi
}
randread_raw() {
	local out iops lat
	drop_caches
	out=$(timeout "$TMO" "$PY" "$HELPER" randread /par0.bin "$((RAND_MIB * MiB))" "$RAND_SECS") || return 1
	read -r iops lat _ <<<"$out"
	add rand raw "$iops"
	add rand_lat raw "$lat"
}

# 6. untar into the mount, then cp -r back out
untar_fs() {
	local kind=$1 run=$2 dir=ut-$1-$2 ok=1 t_untar
	drop_caches
	mount_fs "$kind" || {
		fail cpout "$kind" "not run"
		return 1
	}
	if mkdir "$MNT/$dir" && timed timeout --foreground "$TMO" tar -xf "$LOCAL/src.tar" -C "$MNT/$dir"; then
		t_untar=$T
	else
		log "$kind: tar -x into the mount failed"
		ok=0
	fi
	# Checked while still mounted: every file must be on the server once tar has closed it.
	if ((ok)) && ! diff -r "$LOCAL/src" "$SRV/$dir/src" >"$WORK/diff" 2>&1; then
		log "$kind: the server's copy of the untarred tree differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	unmount_fs
	note_rss untar
	((ok)) && add untar "$kind" "$t_untar"
	((ok)) || {
		rm -rf "${SRV:?}/$dir"
		fail cpout "$kind" "nothing to copy out"
		return 1
	}

	# cp -r back out, on a fresh mount after dropping caches.
	drop_caches
	mount_fs "$kind" || {
		rm -rf "${SRV:?}/$dir"
		fail cpout "$kind"
		return 0
	}
	ok=1
	timed timeout --foreground "$TMO" cp -r "$MNT/$dir/src" "$LOCAL/out-$kind" || ok=0
	unmount_fs
	note_rss cpout
	if ((ok)) && ! diff -r "$LOCAL/src" "$LOCAL/out-$kind" >"$WORK/diff" 2>&1; then
		log "$kind: the tree copied out differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	rm -rf "${SRV:?}/$dir" "$LOCAL/out-$kind"
	if ((ok)); then add cpout "$kind" "$T"; else fail cpout "$kind"; fi
	return 0 # the untar itself was fine
}
untar_raw() {
	local run=$1 dir=ut-raw-$1 ok=1
	drop_caches
	timeout "$TMO" "$PY" "$HELPER" put-tree "$LOCAL/src" "/$dir" >"$WORK/got" || ok=0
	read -r T _ <"$WORK/got"
	if ((ok)) && ! diff -r "$LOCAL/src" "$SRV/$dir" >"$WORK/diff" 2>&1; then
		log "raw: the server's copy differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	((ok)) && add untar raw "$T"
	((ok)) || {
		rm -rf "${SRV:?}/$dir"
		fail cpout raw "nothing to copy out"
		return 1
	}
	drop_caches
	ok=1
	timeout "$TMO" "$PY" "$HELPER" get-tree "/$dir" "$LOCAL/out-raw" >"$WORK/got" || ok=0
	read -r T _ <"$WORK/got"
	if ((ok)) && ! diff -r "$LOCAL/src" "$LOCAL/out-raw" >"$WORK/diff" 2>&1; then
		log "raw: the tree copied out differs: $(head -n 3 "$WORK/diff" | tr '\n' ' ')"
		ok=0
	fi
	rm -rf "${SRV:?}/$dir" "$LOCAL/out-raw"
	if ((ok)); then add cpout raw "$T"; else fail cpout raw; fi
	return 0
}

# 7. parallel readers
par_cat() {
	local i rc=0 pids=()
	for ((i = 0; i < PAR_N; i++)); do
		timeout --foreground "$TMO" cat "$MNT/par$i.bin" >/dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	return "$rc"
}
# par_curl: PAR_N curls at once; T is the time from the first transfer's start (after its login) to the
# last one's end, from each curl's launch time and its own timings.
par_curl() {
	local i rc=0 pids=() size
	for ((i = 0; i < PAR_N; i++)); do
		echo "$EPOCHREALTIME" >"$WORK/launch$i"
		curl_ftp -o /dev/null -w "$CURL_TIME %{size_download}" "$URL/par$i.bin" >"$WORK/got$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || rc=1; done
	((rc == 0)) || return 1
	for ((i = 0; i < PAR_N; i++)); do
		read -r _ _ size <"$WORK/got$i"
		[[ $size == "$((PAR_MIB * MiB))" ]] || { log "curl got $size bytes of par$i.bin" && return 1; }
	done
	for ((i = 0; i < PAR_N; i++)); do
		paste -d ' ' "$WORK/launch$i" "$WORK/got$i"
	done | awk 'NR == 1 || $1 + $2 < s { s = $1 + $2 } NR == 1 || $1 + $3 > e { e = $1 + $3 }
		END { printf "%.6f\n", e - s }' >"$WORK/window"
	T=$(<"$WORK/window")
}
par_fs() {
	local kind=$1 ok=1
	drop_caches
	mount_fs "$kind" || return 1
	timed par_cat || ok=0
	unmount_fs
	note_rss par
	((ok)) && add par "$kind" "$(calc "$PAR_N * $PAR_MIB * $MiB / $T / 1e6")"
}
par_raw() {
	drop_caches
	par_curl || return 1
	add par raw "$(calc "$PAR_N * $PAR_MIB * $MiB / $T / 1e6")"
}

# 8. cp of a file within the mount: as cp does (copy_file_range, which ftpfs answers with a copy on
# the server where it has one: proftpd's mod_copy), and with --reflink=never, where cp reads and
# writes through the mount, as the kernel does where the server cannot copy. ftpfs is mounted with
# -o debug to count the commands it sent (cmds_begin, cmds_end in latency.sh), RETR and STOR among
# them.
declare -A COPY_RAW=() # COPY_RAW[row]: how the raw client copied (bench-helper.py copy's METHOD)
make_copy_source() { # copy.bin on the server, dated 2020, so that a copy's own time shows
	head -c $((COPY_MIB * MiB)) /dev/urandom >"$SRV/copy.bin"
	touch -d 2020-01-01T00:00:00Z "$SRV/copy.bin"
}
check_copy() { # check_copy NAME: the server's NAME is copy.bin byte for byte, with a time of its own
	cmp -s "$SRV/copy.bin" "$SRV/$1" || { log "the server's $1 differs from copy.bin" && return 1; }
	(($(stat -c %Y "$SRV/$1") > $(stat -c %Y "$SRV/copy.bin"))) ||
		{ log "the server's $1 has copy.bin's time, not its own" && return 1; }
}
# copy_in_mount ROW KIND RUN [CP-OPTION...]: one cold cp of copy.bin to a new name on a fresh mount.
copy_in_mount() {
	local row=$1 kind=$2 run=$3 name=$1-$2-$3.bin ok=1 MOUNT_EXTRA=",debug,log_file=$DEBUG_LOG"
	shift 3
	rm -f "$SRV/$name"
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	timed timeout --foreground "$TMO" cp "$@" "$MNT/copy.bin" "$MNT/$name" || ok=0
	cmds_end "$row" "$kind"
	unmount_fs
	note_rss "$row"
	((ok)) && { check_copy "$name" || ok=0; }
	rm -f "$SRV/$name"
	((ok)) && add "$row" "$kind" "$T"
}
# raw_copy ROW RUN [stream]: one cold copy by the raw client (bench-helper.py copy).
raw_copy() {
	local row=$1 name=$1-raw-$2.bin ok=1 method=""
	shift 2
	rm -f "$SRV/$name"
	drop_caches
	timeout "$TMO" "$PY" "$HELPER" copy /copy.bin "/$name" "$@" >"$WORK/got" || ok=0
	((ok)) && { read -r T method <"$WORK/got" || ok=0; }
	((ok)) && { check_copy "$name" || ok=0; }
	rm -f "$SRV/$name"
	((ok)) || return 1
	COPY_RAW[$row]=$method
	add "$row" raw "$T"
}
copy_fs() { copy_in_mount copy "$1" "$2"; }
copy_raw() { raw_copy copy "$1"; }
copyrw_fs() { copy_in_mount copyrw "$1" "$2" --reflink=never; }
copyrw_raw() { raw_copy copyrw "$1" stream; }

# C1. cat of a large file from a server capping each session's rate (--max-rate): ftpfs as it is
# (parallel transfers), ftpfs -o parallel=1 (column ftpfs1), curl; the cap is computed, not run.
capcat_fs() {
	local kind=$1 run=$2 col=$1 ok=1 MOUNT_EXTRA=$MOUNT_EXTRA
	if [[ $kind == ftpfs1 ]]; then
		kind=ftpfs MOUNT_EXTRA+=",parallel=1"
	fi
	drop_caches
	mount_fs "$kind" || return 1
	cmds_begin
	timed timeout --foreground "$TMO" cat "$MNT/cap.bin" >/dev/null || ok=0
	cmds_end "capcat_$col" "$kind"
	if ((ok && run == 1)) && ! cmp -s "$MNT/cap.bin" "$SRV/cap.bin"; then
		log "$col: $MNT/cap.bin differs from the server's file"
		ok=0
	fi
	unmount_fs
	note_rss "capcat_$col"
	((ok)) && add capcat "$col" "$T"
}
capcat_raw() {
	local got
	drop_caches
	if ((LATENCY)); then
		curl_v -o /dev/null -w '%{size_download}' "$URL/cap.bin" >"$WORK/got" || { curl_failed RETR && return 1; }
		T=$(curl_after_login) || { log "no timings in curl's -v output" && return 1; }
		got=$(<"$WORK/got")
	else
		curl_ftp -o /dev/null -w "$CURL_TIME %{size_download}" "$URL/cap.bin" >"$WORK/got" || return 1
		read -r T got < <(curl_time "$WORK/got")
	fi
	[[ $got == "$((CAP_MIB * MiB))" ]] || { log "curl got $got bytes of cap.bin, want $((CAP_MIB * MiB))" && return 1; }
	add capcat raw "$T"
}
run_capped() {
	local i col
	for ((i = 1; i <= RUNS; i++)); do
		log "capcat: run $i/$RUNS"
		capcat_raw "$i" || fail capcat raw
		for col in ftpfs ftpfs1 "${FSES[@]:1}"; do
			capcat_fs "$col" "$i" || fail capcat "$col"
		done
	done
}

# run_workload ROW NAME: RUNS cold runs of NAME_raw and NAME_fs for each filesystem, alternating.
# ONLY (environment), when set, names the workloads (NAME) to run, e.g. ONLY="lgrep lgrepc".
run_workload() {
	local row=$1 name=$2 i kind
	[[ -z ${ONLY:-} || " $ONLY " == *" $name "* ]] || return 0
	for ((i = 1; i <= RUNS; i++)); do
		log "$name: run $i/$RUNS"
		"${name}_raw" "$i" || fail "$row" raw
		for kind in "${FSES[@]}"; do
			"${name}_fs" "$kind" "$i" || fail "$row" "$kind"
		done
	done
}

