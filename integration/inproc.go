package integration

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/ftpfs/ftpfs/internal/testserver"
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
	return startInProcess(t, kind, root, "")
}

// StartInProcessTLS is StartInProcess serving FTPS, "explicit" or
// "implicit", with a self-signed certificate that Server.CAFile holds.
func StartInProcessTLS(t testing.TB, kind, root, mode string) *Server {
	return startInProcess(t, kind, root, mode)
}

// StartInProcessHash is StartInProcess with ftpserverlib's digest
// commands on (XSHA512, XSHA256, ... and HASH), corrupting uploads while
// *corrupt is above zero (see testserver.Config.Corrupt); corrupt may be
// nil.
func StartInProcessHash(t testing.TB, root string, corrupt *atomic.Int32) *Server {
	return startInProcess(t, KindInProcess, root, "", func(c *testserver.Config) {
		c.Hash, c.Corrupt = true, corrupt
	})
}

func startInProcess(t testing.TB, kind, root, mode string, tweak ...func(*testserver.Config)) *Server {
	t.Helper()
	// Ports from the same slots real servers use, so that a fault proxy can
	// stand in front of the control port and the passive range.
	port, err := allocPorts()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := testserver.Config{Root: root, User: "ftpfs", Password: "secret", NoMLSD: kind == KindInProcessLIST,
		PasvLo: port + 1, PasvHi: port + serverPasvPorts}
	var caFile string
	if mode != "" {
		cert, pemBytes, err := testserver.SelfSigned("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		caFile = filepath.Join(t.TempDir(), "cert.pem")
		if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		cfg.Implicit = mode == "implicit"
	}
	for _, f := range tweak {
		f(&cfg)
	}
	srv, err := testserver.Start(ln, cfg)
	if err != nil {
		t.Fatalf("in-process server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return &Server{
		Kind: kind, Host: "127.0.0.1", Port: port,
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		User: cfg.User, Password: cfg.Password, Root: root,
		TLS: mode, CAFile: caFile,
	}
}
