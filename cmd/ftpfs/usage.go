package main

const usage = `Usage: ftpfs [-f] [-o opt[,opt...]] SOURCE MOUNTPOINT [-o opt[,opt...]]
       ftpfs status [--watch] MOUNTPOINT

Mount a directory of an FTP server at MOUNTPOINT.

SOURCE is host:/path (an absolute path; host: alone or host:path mean the
login directory or a path relative to it), or a URL
ftp://[user[:password]@]host[:port][/path] whose path is relative to the
login directory (ftp://host//abs or ftp://host/%2Fabs for an absolute one).
ftps:// is FTPS with TLS from the first byte (port 990), ftpes:// FTPS with
AUTH TLS (port 21).

Flags:
  -f               stay in the foreground (otherwise ftpfs returns once mounted
                   and logs to syslog or log_file)
  -d               same as -o debug
  -o opt,...       mount options, see below; may be given more than once
  -h, --help       show this help
  -V, --version    show the version

Subcommands:
  status [--watch] MOUNTPOINT  what the ftpfs serving MOUNTPOINT is doing: the
                   server, journaled uploads with progress, files kept unsaved

Options:
  port=N              server port (default 21; overrides a URL's port)
  user=NAME           login name (default anonymous)
  password_file=PATH  read the password from the first line of PATH
  cache_timeout=SECS  how long listings and attributes are trusted (default 30;
                      0 = the kernel asks every time)
  negative_timeout=SECS  how long a name missing from a listing is taken as absent
                      before a lookup of it asks the server again (default 5)
  revalidate_timeout=SECS  an open of a file known for longer than this asks the
                      server for its size and time first (default 5; 0 = every open)
  cache_dir=PATH      where files being written are buffered, failed uploads kept and
                      files read cached (default ~/.cache/ftpfs)
  cache_max_size=SIZE bound on the files read kept on local disk (under cache_dir/content,
                      across mounts, served while the listing shows the same size and
                      time); K, M, G, T units; default 1G; 0 turns the content cache off
  connections=N       most control connections at once (default 8)
  parallel=N          transfers at once for a large file read in order whose one stream
                      is slow, as on servers that cap each session's rate (default 4,
                      at most connections-1; 1 = one stream per file)
  timeout=SECS        bound on every network operation (default 30)
  retry_timeout=SECS  how long failed operations are retried before an error (default 60)
  writeback           close() returns once the data is journaled on local disk; uploads
                      run in the background, in order (fsync waits for them; see the manual)
  writeback_wait=SECS after unmounting, how long to wait for queued uploads before
                      leaving them to the next mount (default 600)
  direct_upload       write uploads in place, not under a temporary name renamed
                      over the file once whole
  verify=size         check uploads by their size only, not by the server's digest
                      (HASH, XSHA256...) where it offers one (verify=digest, the default)
  tls, tls=explicit   FTPS: AUTH TLS on the control port, data connections protected
  tls=implicit        FTPS with TLS from the first byte (usually port 990)
  cafile=PATH         also trust the CA certificate(s) in PATH (PEM)
  insecure            do not verify the server's certificate (warns on every mount)
  tls_data=clear      FTPS with clear data connections (PROT C): TLS on the control one only
  tls_ccc             FTPS: end TLS on the control connection after login (CCC), for NAT
  active, active=ADDR active mode: the server connects to ftpfs for each data connection
                      (EPRT/PORT); ADDR is the IP address announced (a NAT's public one)
  source_address=IP   bind the control and data connections to the local address IP
  account=ACCT        sent with ACCT when the server asks for an account after login (332)
  encoding=NAME       the server's character set for file names (GBK, Shift_JIS,
                      ISO-8859-1...); names show as UTF-8
  disable_mlsd        list directories with LIST even where the server offers MLSD
  disable_exact_times show LIST's times (minutes; days for old files) as listed, without
                      asking MDTM for each file's time to the second
  disable_data_ahead  open each data connection when its transfer starts, not ahead
                      (EPSV sent with an upload's last commands on vsftpd, pure-ftpd, proftpd)
  debug               log every FTP command and reply (passwords masked)
  log_file=PATH       log there instead of stderr (foreground) or syslog (background)
  ro                  mount read-only
  nonempty            mount over a directory that is not empty (hiding its files)
  allow_other         let other users access the mount
  default_permissions let the kernel check permissions against the modes shown
  uid=N, gid=N        owner shown for every file (default: the mounting user)
  umask=OOO           mask applied to the modes shown (octal)
Options mount(8) passes (rw, dev, suid, exec, noatime, _netdev, x-*...) are accepted
and ignored.

Password, first found: the URL, password_file, $FTPFS_PASSWORD, ~/.netrc,
a prompt on the terminal (with none of them, ftpfs says so and stops);
without a user, the login is anonymous.

Unmount with 'umount MOUNTPOINT' (root), 'fusermount3 -u MOUNTPOINT', or by
sending SIGINT or SIGTERM to ftpfs.
`
