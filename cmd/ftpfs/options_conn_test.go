package main

import (
	"strings"
	"testing"
)

// TestDataConnectionOptions parses the options of data connections and
// dialing: active mode, the source address, the account, clear data and
// CCC under FTPS; and of listing: disable_mlsd, disable_exact_times.
func TestDataConnectionOptions(t *testing.T) {
	good := []struct {
		opts string
		want func(o *options) bool
	}{
		{"active", func(o *options) bool { return o.active && o.activeAddr == "" }},
		{"active=203.0.113.5", func(o *options) bool { return o.active && o.activeAddr == "203.0.113.5" }},
		{"active=2001:db8::1", func(o *options) bool { return o.active && o.activeAddr == "2001:db8::1" }},
		{"source_address=127.0.0.2", func(o *options) bool { return o.sourceAddr == "127.0.0.2" && !o.active }},
		{"account=acct", func(o *options) bool { return o.account == "acct" }},
		{"tls,tls_data=clear", func(o *options) bool { return o.clearData }},
		{"tls,tls_data=clear,tls_data=protected", func(o *options) bool { return !o.clearData }},
		{"tls=implicit,tls_ccc", func(o *options) bool { return o.tlsCCC }},
		{"disable_exact_times", func(o *options) bool { return o.disableExactTimes && !o.disableMLSD }},
		{"disable_mlsd", func(o *options) bool { return o.disableMLSD && !o.disableExactTimes }},
		{"disable_data_ahead", func(o *options) bool { return o.disableDataAhead && !o.disableMLSD }},
	}
	for _, c := range good {
		o, err := parseArgs([]string{"host:/", "/mnt", "-o", c.opts})
		if err != nil {
			t.Errorf("-o %s: %v", c.opts, err)
			continue
		}
		if !c.want(o) {
			t.Errorf("-o %s: unexpected result %+v", c.opts, *o)
		}
	}
	bad := []struct{ opts, want string }{
		{"active=nat.example.com", "active=nat.example.com: not an IP address"},
		{"active=", "active=: not an IP address"},
		{"source_address=eth0", "source_address=eth0: not an IP address"},
		{"source_address", "needs a value"},
		{"account", "needs a value"},
		{"tls,tls_data=none", "want tls_data=clear"},
		{"tls_data=clear", "add -o tls"},
		{"tls_ccc", "add -o tls"},
		{"tls,tls_ccc=yes", "takes no value"},
		{"disable_exact_times=yes", "takes no value"},
	}
	for _, c := range bad {
		_, err := parseArgs([]string{"host:/", "/mnt", "-o", c.opts})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("-o %s: %v, want one line saying %q", c.opts, err, c.want)
		}
	}
}
