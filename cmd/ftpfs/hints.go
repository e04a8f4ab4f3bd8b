package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"strings"

	"github.com/ftpfs/ftpfs/conn"
)

// tlsRequiredReplies are what servers that insist on FTPS answer a
// cleartext login, lowercased: vsftpd's 530 "Non-anonymous sessions must
// use encryption.", ftpserverlib's 530 "TLS is required", proftpd's 550
// "SSL/TLS required on the control channel", pure-ftpd's 421 "Sorry,
// cleartext sessions ... are not accepted".
var tlsRequiredReplies = []string{
	"must use encryption",
	"tls is required",
	"ssl/tls required",
	"tls required",
	"ssl required",
	"cleartext sessions",
}

// withTLSHint adds the fix to a failed connect or login when the server's
// reply says it wants TLS and the mount did not ask for it. It matches the
// reply's text here, where the mount error is reported, so that conn keeps
// one mapping from replies to errors.
func withTLSHint(err error, mode conn.TLSMode) error {
	if err == nil || mode != conn.TLSOff {
		return err
	}
	msg := strings.ToLower(err.Error())
	for _, r := range tlsRequiredReplies {
		if strings.Contains(msg, r) {
			return fmt.Errorf("%w (the server requires TLS: mount with -o tls)", err)
		}
	}
	return err
}

// fuseConf is where fusermount3 reads user_allow_other; tests point it
// elsewhere.
var fuseConf = "/etc/fuse.conf"

// checkAllowOther refuses -o allow_other for an ordinary user when
// fuse.conf lacks user_allow_other. fusermount3 would refuse it too, but
// go-fuse reports only "fusermount exited with code 256", and in the
// background its explanation goes nowhere. A fuse.conf ftpfs cannot read
// is left for fusermount3 to judge.
func checkAllowOther(allowOther bool, euid int) error {
	if !allowOther || euid == 0 {
		return nil
	}
	data, err := os.ReadFile(fuseConf)
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if strings.TrimSpace(line) == "user_allow_other" {
			return nil
		}
	}
	return fmt.Errorf("-o allow_other: only root may use it unless %s has the line user_allow_other; "+
		"add it (as root), or mount without allow_other", fuseConf)
}
