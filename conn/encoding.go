package conn

import (
	"fmt"
	iofs "io/fs"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// codec converts names between UTF-8, which ftpfs shows, and a server's
// legacy character set (GBK, Shift_JIS, ISO-8859-1...). The zero codec
// passes bytes through unchanged, which keeps any name a server sends.
type codec struct {
	enc encoding.Encoding // nil: no conversion
}

// newCodec looks a character set up by its IANA or WHATWG name.
func newCodec(name string) (codec, error) {
	if name == "" {
		return codec{}, nil
	}
	e, err := ianaindex.IANA.Encoding(name)
	if err != nil || e == nil {
		if e, err = htmlindex.Get(name); err != nil {
			return codec{}, fmt.Errorf("encoding %q: unknown character set", name)
		}
	}
	return codec{enc: e}, nil
}

// toServer converts a path for the server. A character the server's set
// lacks makes the path invalid.
func (c codec) toServer(op, p string) (string, error) {
	if c.enc == nil {
		return p, nil
	}
	s, err := c.enc.NewEncoder().String(p)
	if err != nil {
		return "", &Error{Op: op, Path: p, Msg: "the name cannot be written in the server's character set", Err: iofs.ErrInvalid}
	}
	return s, nil
}

// fromServer converts a name or path from the server.
func (c codec) fromServer(s string) string {
	if c.enc == nil {
		return s
	}
	out, err := c.enc.NewDecoder().String(s)
	if err != nil {
		return s
	}
	return out
}
