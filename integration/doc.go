// Package integration mounts ftpfs for real, against an in-process FTP
// server and against the real servers that scripts/ftp-server starts
// (vsftpd, pure-ftpd, proftpd, pyftpdlib), and checks what ordinary tools
// see through the mount against the served directory on disk.
//
// Every mount is unmounted in the test's cleanup (lazily if it is busy)
// and every server stopped; every test runs under a deadline. Tests skip,
// saying why, where /dev/fuse or a server binary is missing.
package integration
