package conn

import (
	"io"
	"path"
	"strings"

	"github.com/jlaffaye/ftp"
)

// upload runs an upload command (STOR or APPE path) and sends src on its
// data connection. On a server known to accept the data connection only
// within the command (pure-ftpd, vsftpd, proftpd), it sends the data as
// soon as the connection is made instead of after the server's 150 reply,
// which comes only once the server has accepted the connection, a round
// trip after the command: the bytes wait in the server's kernel meanwhile.
// Other servers get the data after the 150, as the library does: pyftpdlib,
// for one, takes a data connection as soon as it is made, and loses an
// upload whose bytes arrive before it has read the command. If the server
// refuses the command, the data connection is dropped and the reply is the
// error.
func (s *Session) upload(command string, src io.Reader) error {
	return s.inExchange(func(x *rawExchange) error { return x.upload(command, src) })
}

func (x *rawExchange) upload(command string, src io.Reader) error {
	if strings.ContainsAny(command, "\r\n") {
		return ftp.ErrInvalidCommand
	}
	data, err := x.openData()
	if err != nil {
		return err
	}
	if _, err := x.s.ctl.Write([]byte(command + "\r\n")); err != nil {
		_ = abortData(data)
		return err
	}
	early := x.s.ctl.acceptsInCommand
	if !early {
		if _, _, err := x.tr.ReadResponse(1); err != nil {
			_ = abortData(data)
			return err
		}
	}
	sent := make(chan error, 1)
	go func() {
		// An empty upload under TLS still needs its handshake, or the
		// server waits for one.
		err := data.Handshake()
		if err == nil {
			_, err = data.ReadFrom(src)
		}
		if err != nil {
			// A clean end would make the server keep a short file.
			_ = abortData(data)
		} else {
			err = data.Close()
		}
		sent <- err
	}()
	if early {
		if _, _, err := x.tr.ReadResponse(1); err != nil {
			// Refused (or the connection failed): the server will not read
			// the data, so stop sending it.
			_ = abortData(data)
			<-sent
			return err
		}
	}
	serr := <-sent
	_, _, err = x.tr.ReadResponse(2)
	if err == nil {
		err = serr
	}
	return err
}

// abortData closes a data connection at once, under TLS without the
// close_notify that Close would try to send, which would wait behind a
// write blocked on the peer.
func abortData(d *dataConn) error {
	return d.abort()
}

// TempSuffix ends the temporary name an upload is written under before it
// is renamed over its target: ".NAME" + TempSuffix beside NAME. A name of
// that shape left on the server is an upload that never completed (ftpfs
// was killed, or the link died); the next upload of NAME overwrites it
// and renames it away.
const TempSuffix = ".ftpfs-part"

// uploadName returns where an upload of p is written first: its
// temporary name, or p itself with -o direct_upload, after the server
// refused a temporary name, or where the name would pass NAME_MAX.
func (p *Pool) uploadName(target string) string {
	if p.cfg.DirectUpload || p.q.ref.refused(optTempName) {
		return target
	}
	dir, base := path.Split(target)
	name := "." + base + TempSuffix
	if len(name) > 255 || base == "" {
		return target
	}
	return dir + name
}
