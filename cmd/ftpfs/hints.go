package main

import (
	"fmt"
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
