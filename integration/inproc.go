package integration

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path"
	"strconv"
	"testing"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// KindInProcess is the in-process server (ftpserverlib over the local disk),
// which lists with MLSD; KindInProcessLIST is the same with MLSD switched
// off, to exercise the LIST path.
const (
	KindInProcess     = "inprocess"
	KindInProcessLIST = "inprocess-list"
)

// inprocDriver serves one directory to one user.
type inprocDriver struct {
	settings *ftpserver.Settings
	root     string
	user     string
	password string
}

func (d *inprocDriver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }

func (d *inprocDriver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	return "ftpfs test server", nil
}

func (d *inprocDriver) ClientDisconnected(cc ftpserver.ClientContext) {}

func (d *inprocDriver) AuthUser(cc ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if user != d.user || pass != d.password {
		return nil, errors.New("login incorrect")
	}
	return followLinks{afero.NewBasePathFs(afero.NewOsFs(), d.root)}, nil
}

func (d *inprocDriver) GetTLSConfig() (*tls.Config, error) {
	return nil, errors.New("no TLS configured")
}

// StartInProcess serves root from an ftpserverlib server inside the test
// process, listening on 127.0.0.1 and stopped in cleanup.
func StartInProcess(t testing.TB, kind, root string) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	d := &inprocDriver{
		root: root, user: "ftpfs", password: "secret",
		settings: &ftpserver.Settings{
			Listener:    ln,
			DisableMLSD: kind == KindInProcessLIST,
			DisableMLST: kind == KindInProcessLIST,
		},
	}
	srv := ftpserver.NewFtpServer(d)
	if err := srv.Listen(); err != nil {
		t.Fatalf("in-process server: %v", err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Stop() })
	port := ln.Addr().(*net.TCPAddr).Port
	return &Server{
		Kind: kind, Host: "127.0.0.1", Port: port,
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		User: d.user, Password: d.password, Root: root,
	}
}

// followLinks lists directories with each entry's target's attributes, as
// pyftpdlib and pure-ftpd do. ftpserverlib would list a symlink's own
// (lstat) size as a regular file's while RETR sends the target's bytes.
type followLinks struct{ afero.Fs }

// ReadDir implements ftpserverlib's ClientDriverExtensionFileList.
func (f followLinks) ReadDir(name string) ([]os.FileInfo, error) {
	dir, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	infos := make([]os.FileInfo, 0, len(names))
	for _, n := range names {
		fi, err := f.Stat(path.Join(name, n))
		if err != nil {
			continue // a dangling link shows nothing to read
		}
		infos = append(infos, fi)
	}
	return infos, nil
}
