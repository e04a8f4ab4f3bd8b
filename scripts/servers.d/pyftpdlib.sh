# shellcheck shell=bash
# pyftpdlib.sh: how scripts/ftp-server runs pyftpdlib (Debian's python3-pyftpdlib for /usr/bin/python3).
# Sourced by scripts/ftp-server; its "server kinds" section says what the functions here read and must
# do.
#
# The server is servers.d/pyftpdlib_server.py, configured through its environment (its docstring lists
# the variables): the login lives in its memory, and it drops privileges to the user after binding.
# It alone serves --refuse (REFUSE), which it parses; here REFUSE's characters are checked, as it goes
# into the environment.

KINDS+=(pyftpdlib)

pyftpdlib_check() {
	/usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null ||
		die 4 "pyftpdlib is not installed for /usr/bin/python3 (run scripts/install-deps)"
	[[ $REFUSE =~ ^[A-Za-z\ ,=0-9-]*$ ]] || die 2 "bad --refuse '$REFUSE'"
}

pyftpdlib_start() {
	# Debian's pyftpdlib 1.5.7 with pyOpenSSL resets TLS data connections (curl fails too).
	[[ -z $TLS_MODE ]] || die 4 "FTPS with pyftpdlib is not set up here"
	FTPFS_LOG=$STATE/pyftpdlib.log FTPFS_USER=$USER_NAME FTPFS_PASSWORD=$PASSWORD FTPFS_ROOT=$ROOT \
		FTPFS_PASV=$PASV_LO-$PASV_HI FTPFS_PORT=$PORT FTPFS_MAX_SESSIONS=$MAX_SESSIONS FTPFS_PASV_ADDRESS=$PASV_ADDRESS \
		FTPFS_UID=$UID_OF_USER FTPFS_GID=$GID_OF_USER FTPFS_REFUSE=$REFUSE \
		launch /usr/bin/python3 "$SERVERS_D/pyftpdlib_server.py"
}
