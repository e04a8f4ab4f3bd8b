# shellcheck shell=bash
# pure-ftpd.sh: how scripts/ftp-server runs pure-ftpd (unpacked into SERVERS_DIR by
# scripts/install-deps). Sourced by scripts/ftp-server; its "server kinds" section says what the
# functions here read and must do.
#
# The login is a virtual user in a per-STATEDIR puredb (pureftpd.passwd, compiled to pureftpd.pdb): it
# maps to the system user's uid/gid and is chrooted to ROOT, so two pure-ftpd servers for one user can
# serve different directories.

KINDS+=(pure-ftpd)
GENERATED+=(pureftpd.passwd pureftpd.pdb pure-ftpd.pid)

pure_ftpd_check() {
	PURE_FTPD_BIN=$SERVERS_DIR/usr/sbin/pure-ftpd PURE_PW=$SERVERS_DIR/usr/bin/pure-pw
	[[ -x $PURE_FTPD_BIN && -x $PURE_PW ]] ||
		die 4 "pure-ftpd is not installed in $SERVERS_DIR (run scripts/install-deps)"
	command -v openssl >/dev/null || die 4 "openssl is not installed (run scripts/install-deps)"
}

# pure_ftpd_login: the virtual user's puredb. The passwd line is written by hand with a SHA-512 crypt
# hash: "pure-pw useradd" hashes with argon2id at t=1023, which costs ~3 s of CPU at every login. Home
# "DIR/./" means chroot to DIR.
pure_ftpd_login() {
	local hash
	hash=$(printf '%s' "$PASSWORD" | openssl passwd -6 -stdin) || die 1 "openssl passwd failed"
	rm -f "$STATE/pureftpd.passwd" "$STATE/pureftpd.pdb"
	printf '%s:%s:%s:%s::%s/./::::::::::::\n' "$USER_NAME" "$hash" "$UID_OF_USER" "$GID_OF_USER" "$ROOT" \
		>"$STATE/pureftpd.passwd"
	chmod 600 "$STATE/pureftpd.passwd"
	"$PURE_PW" mkdb "$STATE/pureftpd.pdb" -f "$STATE/pureftpd.passwd" >>"$STATE/server.log" 2>&1 ||
		die 1 "pure-pw mkdb failed (see $STATE/server.log)"
}

pure_ftpd_start() {
	local -a args
	pure_ftpd_login
	args=(
		-S "127.0.0.1,$PORT" -p "$PASV_LO:$PASV_HI"
		-4                                  # IPv4 only
		-E                                  # no anonymous logins
		-l "puredb:$STATE/pureftpd.pdb"     # the virtual user above
		-D                                  # list dot files (hidden by default unless LIST -a)
		-L 100000:10                        # default 10000:5 silently cuts listings at 10,000 entries
		-U 133:022                          # umask: files 644, dirs 755
		-H                                  # no reverse DNS
		-g "$STATE/pure-ftpd.pid"           # not the global /var/run/pure-ftpd.pid
		-O "clf:$STATE/transfer.log"        # transfer log (pure-ftpd's other logging goes to syslog)
	)
	# Without -c/-C pure-ftpd allows only a few sessions here ("user number 1 of 8 allowed").
	args+=(-c "${MAX_SESSIONS:-64}" -C "${MAX_SESSIONS:-64}")
	[[ -z $MAX_RATE ]] || args+=(-T "$(((MAX_RATE + 1023) / 1024)):$(((MAX_RATE + 1023) / 1024))")
	[[ -z $PASV_ADDRESS ]] || args+=(-P "$PASV_ADDRESS") # the address PASV replies name
	if [[ -n $TLS_MODE ]]; then
		[[ $TLS_MODE == explicit ]] || die 2 "pure-ftpd serves explicit FTPS only"
		args+=(-Y 2 -2 "$STATE/cert.pem,$STATE/key.pem") # TLS required for the session
	fi
	# No -B (daemonize): it stays in the foreground so the pid we get is the server's.
	launch "$PURE_FTPD_BIN" "${args[@]}"
}
