package conn

import (
	"errors"
	iofs "io/fs"
	"testing"
)

func TestCodec(t *testing.T) {
	cases := []struct{ charset, utf8, server string }{
		{"GBK", "中文.txt", "\xd6\xd0\xce\xc4.txt"},
		{"gbk", "目录/文件", "\xc4\xbf\xc2\xbc/\xce\xc4\xbc\xfe"},
		{"Shift_JIS", "日本語", "\x93\xfa\x96\x7b\x8c\xea"},
		{"ISO-8859-1", "café", "caf\xe9"},
		{"", "bytes\xff as they are", "bytes\xff as they are"},
	}
	for _, c := range cases {
		cc, err := newCodec(c.charset)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cc.toServer("op", c.utf8)
		if err != nil || got != c.server {
			t.Errorf("%s: toServer(%q) = %q, %v; want %q", c.charset, c.utf8, got, err, c.server)
		}
		if back := cc.fromServer(c.server); back != c.utf8 {
			t.Errorf("%s: fromServer(%q) = %q, want %q", c.charset, c.server, back, c.utf8)
		}
	}
	latin1, _ := newCodec("latin1")
	if _, err := latin1.toServer("op", "日本"); !errors.Is(err, iofs.ErrInvalid) {
		t.Errorf("a name the set cannot hold: %v, want ErrInvalid", err)
	}
	if _, err := newCodec("no-such-charset"); err == nil {
		t.Error("an unknown character set was accepted")
	}
}
