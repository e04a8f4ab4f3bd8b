package conn

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftpfs/ftpfs/internal/testserver"
)

// tlsPool serves a directory over FTPS (explicit or implicit) and returns
// the server's port and a CA file that trusts it.
func tlsServer(t *testing.T, implicit bool) (port int, cafile, root string) {
	t.Helper()
	return tlsServerWith(t, testserver.Config{Implicit: implicit})
}

// tlsServerWith is tlsServer with more of the server's configuration.
func tlsServerWith(t *testing.T, cfg testserver.Config) (port int, cafile, root string) {
	t.Helper()
	cert, pemBytes, err := testserver.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	cafile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cafile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Root, cfg.User, cfg.Password = root, "u", "p"
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv, err := testserver.Start(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return ln.Addr().(*net.TCPAddr).Port, cafile, root
}

func TestTLSRoundTrip(t *testing.T) {
	for _, mode := range []TLSMode{TLSExplicit, TLSImplicit} {
		port, cafile, root := tlsServer(t, mode == TLSImplicit)
		p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p",
			TLS: mode, CAFile: cafile})
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		data := bytes.Repeat([]byte("secret "), 10000)
		if _, err := p.Store(context.Background(), "/f", bytes.NewReader(data), int64(len(data)), Attrs{}); err != nil {
			t.Fatalf("mode %d: store: %v", mode, err)
		}
		if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, data) {
			t.Errorf("mode %d: the server has %d bytes", mode, len(got))
		}
		if _, err := p.Store(context.Background(), "/empty", bytes.NewReader(nil), 0, Attrs{}); err != nil {
			t.Errorf("mode %d: empty store: %v", mode, err)
		}
		ents, err := p.List(context.Background(), "/")
		if err != nil || len(ents) != 2 {
			t.Errorf("mode %d: list: %v, %v", mode, ents, err)
		}
		buf := make([]byte, len(data))
		f := p.OpenFile("/f", -1)
		if n, err := f.ReadAt(context.Background(), buf, 0); err != nil || !bytes.Equal(buf[:n], data) {
			t.Errorf("mode %d: read: %d, %v", mode, n, err)
		}
		f.Close()
		p.Close()
	}
}

func TestTLSUntrusted(t *testing.T) {
	port, _, _ := tlsServer(t, false)
	_, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", TLS: TLSExplicit})
	if err == nil || !strings.Contains(err.Error(), "not trusted") || IsTransient(err) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	p, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: port, User: "u", Password: "p", TLS: TLSExplicit, Insecure: true})
	if err != nil {
		t.Fatalf("insecure: %v", err)
	}
	p.Close()
	var e *Error
	if !errors.As(err, &e) && err != nil {
		t.Fatal(err)
	}
}
