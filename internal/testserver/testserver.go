// Package testserver is a small FTP server over a local directory, built on
// github.com/fclairamb/ftpserverlib, for the demo (scripts/demoserver) and
// for tests that need a server inside the test process.
package testserver

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path"
	"sync/atomic"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"
)

// Config says what to serve and to whom.
type Config struct {
	Root string // the directory served, as "/"
	// User and Password are the one login accepted; with User empty any
	// login is (anonymous included).
	User, Password string
	// NoMLSD switches MLSD and MLST off, so clients fall back to LIST.
	NoMLSD bool
	// TLS, when set, serves FTPS with this configuration: explicit (AUTH
	// TLS, required before login) or, with Implicit, TLS from the first
	// byte.
	TLS      *tls.Config
	Implicit bool
	// TLSOptional lets explicit FTPS clients keep data connections (or
	// the whole session) in clear.
	TLSOptional bool
	// PasvLo and PasvHi, when set, are the passive port range.
	PasvLo, PasvHi int
	// Connected, when set, is told each client's address as it connects,
	// for tests of the address a client connects from.
	Connected func(net.Addr)
	// Hash offers ftpserverlib's digest commands (EnableHASH): HASH,
	// XCRC, XMD5, XSHA1, XSHA256, XSHA512.
	Hash bool
	// Corrupt, when set, counts uploads still to be corrupted: while it
	// is above zero, each upload has its first byte inverted on its way
	// to disk (the size stays right), and the count goes down by one.
	Corrupt *atomic.Int32
	// Reading, when set, is called before a file is opened for reading
	// (RETR, and the digest commands, which read the whole file): a test
	// can hold the reply there, as a server hashing a big file does.
	Reading func(name string)
}

// Start listens on ln and serves in the background until Stop.
func Start(ln net.Listener, cfg Config) (*ftpserver.FtpServer, error) {
	d := &driver{cfg: cfg, settings: &ftpserver.Settings{
		Listener: ln, DisableMLSD: cfg.NoMLSD, DisableMLST: cfg.NoMLSD,
		// Active mode from any port: port 20, as real servers use, needs
		// root. The data connection must still come from, and go to, the
		// control connection's address (IPMatchRequired, the default).
		ActiveTransferPortNon20: true,
		EnableHASH:              cfg.Hash,
	}}
	if cfg.PasvLo > 0 {
		d.settings.PassiveTransferPortRange = ftpserver.PortRange{Start: cfg.PasvLo, End: cfg.PasvHi}
	}
	switch {
	case cfg.TLS != nil && cfg.Implicit:
		// ftpserverlib wraps only a listener it makes itself.
		d.settings.Listener = tls.NewListener(ln, cfg.TLS)
		d.settings.TLSRequired = ftpserver.ImplicitEncryption
	case cfg.TLS != nil && !cfg.TLSOptional:
		d.settings.TLSRequired = ftpserver.MandatoryEncryption
	}
	srv := ftpserver.NewFtpServer(d)
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	go func() { _ = srv.Serve() }()
	return srv, nil
}

type driver struct {
	settings *ftpserver.Settings
	cfg      Config
}

func (d *driver) GetSettings() (*ftpserver.Settings, error) { return d.settings, nil }
func (d *driver) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	if d.cfg.Connected != nil {
		d.cfg.Connected(cc.RemoteAddr())
	}
	return "ftpfs test server", nil
}
func (d *driver) ClientDisconnected(ftpserver.ClientContext) {}

// GetTLSConfig returns the configured TLS, if any.
func (d *driver) GetTLSConfig() (*tls.Config, error) {
	if d.cfg.TLS == nil {
		return nil, errors.New("no TLS configured")
	}
	return d.cfg.TLS, nil
}

// AuthUser lets in the configured user, or anyone when none is set.
func (d *driver) AuthUser(_ ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	if d.cfg.User != "" && (user != d.cfg.User || pass != d.cfg.Password) {
		return nil, errors.New("login incorrect")
	}
	return followLinks{afero.NewBasePathFs(afero.NewOsFs(), d.cfg.Root), d.cfg.Corrupt, d.cfg.Reading}, nil
}

// followLinks lists directories with each entry's target's attributes, as
// pyftpdlib does. ftpserverlib would list a symlink's own (lstat) size as a
// regular file's while RETR sends the target's bytes.
type followLinks struct {
	afero.Fs
	corrupt *atomic.Int32     // Config.Corrupt
	reading func(name string) // Config.Reading
}

// OpenFile opens a file, for an upload to be corrupted if Config.Corrupt
// asks for it, and tells Config.Reading of a file opened for reading.
func (f followLinks) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	if f.reading != nil && flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		f.reading(name)
	}
	file, err := f.Fs.OpenFile(name, flag, perm)
	if err != nil || flag&(os.O_WRONLY|os.O_RDWR) == 0 || f.corrupt == nil || f.corrupt.Add(-1) < 0 {
		return file, err
	}
	return &corrupting{File: file}, nil
}

// corrupting inverts the first byte written to it.
type corrupting struct {
	afero.File
	done bool
}

func (c *corrupting) Write(b []byte) (int, error) {
	if c.done || len(b) == 0 {
		return c.File.Write(b)
	}
	c.done = true
	flipped := append([]byte{^b[0]}, b[1:]...)
	return c.File.Write(flipped)
}

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
			continue // a dangling link has nothing to read
		}
		infos = append(infos, fi)
	}
	return infos, nil
}
