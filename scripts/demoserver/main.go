// Command demoserver serves a directory over FTP on 127.0.0.1 for the demo
// mount (scripts/demo), so that ftpfs can be seen working with no server of
// one's own. It is a small driver over github.com/fclairamb/ftpserverlib.
//
//	demoserver -root DIR [-port N] [-user NAME -password PW]
//
// It prints "listening on HOST:PORT" once ready and serves until killed.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

type driver struct {
	settings       *ftpserver.Settings
	root           string
	user, password string
}

func (d *driver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }
func (d *driver) ClientConnected(ftpserver.ClientContext) (string, error) {
	return "ftpfs demo server", nil
}
func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}
func (d *driver) GetTLSConfig() (*tls.Config, error)         { return nil, errors.New("no TLS") }

// AuthUser lets in the configured user, or anyone when no user is set.
func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if d.user != "" && (user != d.user || pass != d.password) {
		return nil, errors.New("login incorrect")
	}
	return followLinks{afero.NewBasePathFs(afero.NewOsFs(), d.root)}, nil
}

func main() {
	root := flag.String("root", "", "directory to serve (required)")
	port := flag.Int("port", 0, "port on 127.0.0.1 (0 picks a free one)")
	user := flag.String("user", "", "the one user allowed in (default: anyone, as anonymous)")
	password := flag.String("password", "", "that user's password")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "demoserver: -root is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demoserver:", err)
		os.Exit(1)
	}
	d := &driver{root: *root, user: *user, password: *password, settings: &ftpserver.Settings{Listener: ln}}
	srv := ftpserver.NewFtpServer(d)
	if err := srv.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, "demoserver:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	if err := srv.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, "demoserver:", err)
		os.Exit(1)
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
