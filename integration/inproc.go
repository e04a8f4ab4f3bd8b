package integration

import (
	"net"
	"strconv"
	"testing"

	"github.com/ftpfs/ftpfs/scripts/testserver"
)

// KindInProcess is the in-process server (ftpserverlib over the local disk),
// which lists with MLSD; KindInProcessLIST is the same with MLSD switched
// off, to exercise the LIST path.
const (
	KindInProcess     = "inprocess"
	KindInProcessLIST = "inprocess-list"
)

// StartInProcess serves root from an ftpserverlib server inside the test
// process, listening on 127.0.0.1 and stopped in cleanup.
func StartInProcess(t testing.TB, kind, root string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := testserver.Config{Root: root, User: "ftpfs", Password: "secret", NoMLSD: kind == KindInProcessLIST}
	srv, err := testserver.Start(ln, cfg)
	if err != nil {
		t.Fatalf("in-process server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	port := ln.Addr().(*net.TCPAddr).Port
	return &Server{
		Kind: kind, Host: "127.0.0.1", Port: port,
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		User: cfg.User, Password: cfg.Password, Root: root,
	}
}
