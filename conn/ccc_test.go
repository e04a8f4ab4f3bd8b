package conn

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/internal/testserver"
)

// TestCCC: after the login, CCC and the TLS shutdown leave the control
// connection in clear (RFC 4217 section 12.3): the fake server reads the
// commands that follow from the bare TCP connection, and the data
// connection is still protected.
func TestCCC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cert, pemBytes, err := testserver.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cafile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	f := startFake(t, nil, func(f *fakeFTP) { f.tls = &tls.Config{Certificates: []tls.Certificate{cert}} })
	// Active: the fake server has no passive mode.
	p, err := Open(ctx, Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "p", TLS: TLSImplicit,
		CAFile: cafile, CCC: true, Active: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := p.List(ctx, "/")
	p.Close()
	if err != nil || len(ents) != 1 {
		t.Fatalf("list after CCC: %v, %v", ents, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got := strings.Join(f.cleared, " ")
	if !strings.Contains(got, "EPRT") || !strings.Contains(got, "LIST") {
		t.Errorf("commands received in clear after CCC: %q", got)
	}
}

// TestClearData: PROT C leaves data connections in clear under FTPS (the
// in-process server takes it when TLS is optional); a server that refuses
// it, at PROT or at the transfer, gets an error naming the option.
func TestClearData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	port, cafile, root := tlsServerWith(t, testserver.Config{TLSOptional: true})
	tr := &transcript{}
	p, err := Open(ctx, Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", TLS: TLSExplicit,
		CAFile: cafile, ClearData: true, Timeout: 5 * time.Second, Logger: logTo(tr)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.tls.VerifyConnection = func(tls.ConnectionState) error {
		t.Error("a data connection started TLS")
		return nil
	}
	p.put(s, nil)
	roundTrip(t, p, root)
	p.Close()
	if tr.count("PROT C") == 0 || tr.count("PROT P") != 0 {
		t.Errorf("PROT C sent %d times, PROT P %d", tr.count("PROT C"), tr.count("PROT P"))
	}

	// ftpserverlib requiring TLS takes PROT C and refuses the transfer.
	port, cafile, _ = tlsServer(t, false)
	p, err = Open(ctx, Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", TLS: TLSExplicit,
		CAFile: cafile, ClearData: true, Timeout: 5 * time.Second, RetryTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.List(ctx, "/")
	p.Close()
	if err == nil || !strings.Contains(err.Error(), "tls_data=clear") {
		t.Fatalf("clear transfer refused: %v", err)
	}

	cert, _, err := testserver.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := startFake(t, map[string]string{"PROT": "534 Clear data connections are not allowed."},
		func(f *fakeFTP) { f.tls = &tls.Config{Certificates: []tls.Certificate{cert}} })
	_, err = Open(ctx, Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "p", TLS: TLSImplicit,
		Insecure: true, ClearData: true, Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "534") || !strings.Contains(err.Error(), "tls_data=clear") {
		t.Fatalf("PROT C refused: %v", err)
	}
}
