package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want func(o *options) bool
	}{
		{"sshfs style absolute", []string{"ftp.example.com:/pub", "/mnt"}, func(o *options) bool {
			return o.host == "ftp.example.com" && o.remotePath == "/pub" && o.absolute && o.mountpoint == "/mnt" && o.port == 21
		}},
		{"login directory", []string{"host:", "/mnt"}, func(o *options) bool {
			return o.host == "host" && o.remotePath == "" && !o.absolute
		}},
		{"relative path", []string{"host:pub/x", "/mnt"}, func(o *options) bool {
			return o.remotePath == "pub/x" && !o.absolute
		}},
		{"ipv6", []string{"[::1]:/srv", "/mnt"}, func(o *options) bool {
			return o.host == "::1" && o.remotePath == "/srv"
		}},
		{"url with everything", []string{"ftp://me:p%40ss@host:2121/pub", "/mnt"}, func(o *options) bool {
			return o.user == "me" && o.password == "p@ss" && o.hasURLPass && o.port == 2121 &&
				o.remotePath == "pub" && !o.absolute && !strings.Contains(o.source, "p@ss")
		}},
		{"url absolute", []string{"ftp://host//srv/ftp", "/mnt"}, func(o *options) bool {
			return o.remotePath == "/srv/ftp" && o.absolute
		}},
		{"url no path", []string{"ftp://host", "/mnt"}, func(o *options) bool {
			return o.remotePath == "" && o.user == ""
		}},
		{"options after, as mount(8) passes them", []string{"host:/", "/mnt", "-o", "rw,port=2121,user=bob,_netdev,noatime"}, func(o *options) bool {
			return o.port == 2121 && o.user == "bob"
		}},
		{"options before and repeated", []string{"-o", "connections=8", "-ocache_timeout=1.5", "host:/", "/mnt", "-o", "debug,ro"}, func(o *options) bool {
			return o.connections == 8 && o.cacheTTL == 1500*time.Millisecond && o.debug && o.readOnly
		}},
		{"option port beats url port", []string{"ftp://host:2121/", "/mnt", "-o", "port=21"}, func(o *options) bool {
			return o.port == 21
		}},
		{"fuse options", []string{"host:/", "/mnt", "-o", "allow_other,default_permissions,uid=1000,gid=100,umask=027"}, func(o *options) bool {
			return o.allowOther && o.defaultPermissions && o.uid == 1000 && o.gid == 100 && o.umask == 0o27
		}},
		{"valueless user is mount(8)'s", []string{"host:/", "/mnt", "-o", "user,users"}, func(o *options) bool {
			return o.user == ""
		}},
		{"cache off", []string{"host:/", "/mnt", "-o", "cache_timeout=0"}, func(o *options) bool {
			return o.cacheTTL == 0
		}},
		{"freshness defaults", []string{"host:/", "/mnt"}, func(o *options) bool {
			return o.negativeTTL == 0 && o.revalidate == 0
		}},
		{"content cache by default", []string{"host:/", "/mnt"}, func(o *options) bool {
			return o.cacheMaxSize == 1<<30
		}},
		{"content cache sizes", []string{"host:/", "/mnt", "-o", "cache_max_size=512M"}, func(o *options) bool {
			return o.cacheMaxSize == 512<<20
		}},
		{"content cache in GiB", []string{"host:/", "/mnt", "-o", "cache_max_size=2GiB"}, func(o *options) bool {
			return o.cacheMaxSize == 2<<30
		}},
		{"content cache in bytes", []string{"host:/", "/mnt", "-o", "cache_max_size=4096"}, func(o *options) bool {
			return o.cacheMaxSize == 4096
		}},
		{"content cache off", []string{"host:/", "/mnt", "-o", "cache_max_size=0"}, func(o *options) bool {
			return o.cacheMaxSize == 0
		}},
		{"every open revalidates", []string{"host:/", "/mnt", "-o", "revalidate_timeout=0,negative_timeout=1.5"}, func(o *options) bool {
			return o.revalidate == time.Nanosecond && o.negativeTTL == 1500*time.Millisecond
		}},
		{"ftps url is implicit on 990", []string{"ftps://host/", "/mnt"}, func(o *options) bool {
			return o.tls == conn.TLSImplicit && o.port == 990
		}},
		{"ftpes url is explicit on 21", []string{"ftpes://host/", "/mnt"}, func(o *options) bool {
			return o.tls == conn.TLSExplicit && o.port == 21
		}},
		{"tls options", []string{"host:/", "/mnt", "-o", "tls,cafile=/ca.pem,insecure"}, func(o *options) bool {
			return o.tls == conn.TLSExplicit && o.cafile == "/ca.pem" && o.insecure
		}},
		{"tls implicit defaults to 990", []string{"host:/", "/mnt", "-o", "tls=implicit"}, func(o *options) bool {
			return o.port == 990
		}},
		{"tls implicit with port", []string{"host:/", "/mnt", "-o", "tls=implicit,port=9990"}, func(o *options) bool {
			return o.tls == conn.TLSImplicit && o.port == 9990
		}},
		{"uploads checked by digest by default", []string{"host:/", "/mnt"}, func(o *options) bool {
			return o.verify == ""
		}},
		{"verify=size", []string{"host:/", "/mnt", "-o", "verify=size"}, func(o *options) bool {
			return o.verify == conn.VerifySize
		}},
		{"verify=digest", []string{"host:/", "/mnt", "-o", "verify=digest"}, func(o *options) bool {
			return o.verify == conn.VerifyDigest
		}},
		{"help", []string{"--help"}, func(o *options) bool { return o.help }},
		{"version", []string{"-V"}, func(o *options) bool { return o.version }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseArgs(c.args)
			if err != nil {
				t.Fatal(err)
			}
			if !c.want(o) {
				t.Errorf("unexpected result: %+v", *o)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"host:/"}, "need SOURCE and MOUNTPOINT"},
		{[]string{"a:/", "b", "c"}, "need SOURCE and MOUNTPOINT"},
		{[]string{"nohost", "/mnt"}, "expected host:/path"},
		{[]string{":/path", "/mnt"}, "expected host:/path"},
		{[]string{"[::1/x", "/mnt"}, "unclosed ["},
		{[]string{"sftp://host/", "/mnt"}, "unsupported scheme"},
		{[]string{"host:/", "/mnt", "-o", "tls=maybe"}, "tls=maybe"},
		{[]string{"host:/", "/mnt", "-o", "verify=md5"}, "verify=md5"},
		{[]string{"host:/", "/mnt", "-o", "verify"}, "needs a value"},
		{[]string{"ftp:///path", "/mnt"}, "no host"},
		{[]string{"ftp://host/?x=1", "/mnt"}, "query"},
		{[]string{"ftp://host:99999/", "/mnt"}, "port"},
		{[]string{"host:/", "/mnt", "-o", "frobnicate"}, `unknown option "frobnicate"`},
		{[]string{"host:/", "/mnt", "-o", "port=0"}, "port=0"},
		{[]string{"host:/", "/mnt", "-o", "port=http"}, "port=http"},
		{[]string{"host:/", "/mnt", "-o", "port"}, "needs a value"},
		{[]string{"host:/", "/mnt", "-o", "debug=1"}, "takes no value"},
		{[]string{"host:/", "/mnt", "-o", "umask=999"}, "octal"},
		{[]string{"host:/", "/mnt", "-o", "connections=0"}, "connections=0"},
		{[]string{"host:/", "/mnt", "-o", "cache_max_size=1X"}, "cache_max_size=1X: not a size"},
		{[]string{"host:/", "/mnt", "-o", "cache_max_size=-1"}, "not a size"},
		{[]string{"host:/", "/mnt", "-o", "cache_max_size=1.5G"}, "not a size"},
		{[]string{"host:/", "/mnt", "-o", "cache_max_size=G"}, "not a size"},
		{[]string{"host:/", "/mnt", "-o", "cache_max_size=99999999999T"}, "not a size"},
		{[]string{"host:/", "/mnt", "-o", "timeout=0"}, "timeout=0"},
		{[]string{"host:/", "/mnt", "-o"}, "-o needs an argument"},
		{[]string{"-x", "host:/", "/mnt"}, "unknown flag -x"},
	}
	for _, c := range cases {
		_, err := parseArgs(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseArgs(%q) = %v, want an error saying %q", c.args, err, c.want)
		}
	}
}

func TestParseNetrc(t *testing.T) {
	text := `
machine other.example.com login alice password a1
machine ftp.example.com
  login bob
  password b2
macdef init
  cd /pub
  ls

machine ftp.example.com login carol password c3
default login anon password d4
`
	cases := []struct{ host, user, login, password string }{
		{"ftp.example.com", "", "bob", "b2"},
		{"FTP.example.com", "", "bob", "b2"},
		{"ftp.example.com", "carol", "carol", "c3"},
		{"other.example.com", "", "alice", "a1"},
		{"unknown.example.com", "", "anon", "d4"},
	}
	for _, c := range cases {
		login, pw, ok := parseNetrc(text, c.host, c.user)
		if !ok || login != c.login || pw != c.password {
			t.Errorf("parseNetrc(%s, %q) = %q, %q, %v; want %q, %q", c.host, c.user, login, pw, ok, c.login, c.password)
		}
	}
	if _, _, ok := parseNetrc("machine a login x password y", "b", ""); ok {
		t.Error("found credentials for a host the netrc does not name")
	}
}
