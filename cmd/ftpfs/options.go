package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ftpfs/ftpfs/conn"
)

// options is everything the command line says, before credentials are
// looked up. Zero values mean "not given".
type options struct {
	foreground bool
	help       bool
	version    bool

	source                       string // as typed, for the mount table, without a URL password
	sourceIndex, mountpointIndex int    // positions in the arguments, -1 if absent
	host                         string
	port                         int
	portSet                      bool
	remotePath                   string // "" means the login directory
	absolute                     bool   // remotePath is absolute, not relative to the login directory
	user                         string
	password                     string // from the URL only
	hasURLPass                   bool
	mountpoint                   string

	passwordFile string
	cacheDir     string
	logFile      string
	encoding     string
	tls          conn.TLSMode
	cafile       string
	insecure     bool
	// Data connections and dialing (see conn.Config).
	active      bool
	activeAddr  string
	sourceAddr  string
	account     string
	tlsCCC      bool
	clearData   bool
	disableMLSD bool
	cacheTTL    time.Duration
	negativeTTL time.Duration // 0: fs's default; given as 0, a nanosecond
	revalidate  time.Duration // 0: fs's default; given as 0, a nanosecond
	connections int
	// parallel: transfers one file read in order may use at once when
	// one stream is slow; 0 is conn's default, 1 turns it off.
	parallel     int
	timeout      time.Duration
	retryTimeout time.Duration
	debug        bool
	readOnly     bool
	nonempty     bool
	writeback    bool
	// directUpload: STOR in place, without a temporary name.
	directUpload bool
	// verify: how uploads are checked, conn.VerifyDigest or conn.VerifySize.
	verify string
	// writebackWait bounds the wait for queued uploads after the unmount.
	writebackWait time.Duration
	// disableExactTimes: LIST's times as listed, without MDTM.
	disableExactTimes bool
	// disableDataAhead: each data connection opened when its transfer
	// starts, never ahead.
	disableDataAhead bool
	// cacheMaxSize bounds the content cache, in bytes; 0 turns it off.
	cacheMaxSize int64

	allowOther         bool
	defaultPermissions bool
	uid, gid           int64 // -1 when not given
	umask              int64 // -1 when not given
}

// Defaults for options that have one.
const (
	defaultPort     = 21
	implicitTLSPort = 990
	defaultCacheTTL = 30 * time.Second
	// defaultWritebackWait is how long ftpfs waits for queued uploads
	// after the unmount before it leaves them to the next mount.
	defaultWritebackWait = 10 * time.Minute
	// defaultCacheMaxSize bounds the content cache: files read, kept on
	// local disk across mounts (cache_max_size).
	defaultCacheMaxSize = 1 << 30
)

// ignoredOptions are mount options that mount(8) and mount.fuse3 pass
// along, or that only matter to them; ftpfs accepts and ignores them.
var ignoredOptions = map[string]bool{
	"rw": true, "dev": true, "nodev": true, "suid": true, "nosuid": true,
	"exec": true, "noexec": true, "atime": true, "noatime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "diratime": true,
	"nodiratime": true, "async": true, "sync": true, "auto": true, "noauto": true,
	"user": true, "nouser": true, "users": true, "defaults": true,
	"_netdev": true, "nofail": true,
}

// parseArgs reads the command line: flags and -o options may come before
// or after SOURCE and MOUNTPOINT, as mount(8) passes -o last.
func parseArgs(args []string) (*options, error) {
	o := &options{port: defaultPort, cacheTTL: defaultCacheTTL, writebackWait: defaultWritebackWait, cacheMaxSize: defaultCacheMaxSize,
		uid: -1, gid: -1, umask: -1,
		sourceIndex: -1, mountpointIndex: -1}
	var pos []string
	var posIndex []int
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			o.help = true
		case a == "-V" || a == "--version":
			o.version = true
		case a == "-f":
			o.foreground = true
		case a == "-d":
			o.debug, o.foreground = true, true
		case a == "-o":
			if i+1 >= len(args) {
				return nil, errors.New("-o needs an argument")
			}
			i++
			if err := o.parseOptions(args[i]); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-o"):
			if err := o.parseOptions(a[2:]); err != nil {
				return nil, err
			}
		case a == "--":
			for j := i + 1; j < len(args); j++ {
				pos, posIndex = append(pos, args[j]), append(posIndex, j)
			}
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			return nil, fmt.Errorf("unknown flag %s", a)
		default:
			pos, posIndex = append(pos, a), append(posIndex, i)
		}
	}
	if o.help || o.version {
		return o, nil
	}
	if len(pos) != 2 {
		return nil, fmt.Errorf("need SOURCE and MOUNTPOINT, got %d argument(s)", len(pos))
	}
	if pos[0] == "" || pos[1] == "" {
		return nil, errors.New("SOURCE and MOUNTPOINT must not be empty")
	}
	o.mountpoint = pos[1]
	o.sourceIndex, o.mountpointIndex = posIndex[0], posIndex[1]
	if err := o.parseSource(pos[0]); err != nil {
		return nil, err
	}
	if o.tls == conn.TLSImplicit && !o.portSet {
		o.port = implicitTLSPort
	}
	if o.tls == conn.TLSOff && (o.tlsCCC || o.clearData) {
		return nil, errors.New("options tls_ccc and tls_data= apply to FTPS: add -o tls (or tls=implicit)")
	}
	return o, nil
}

// parseOptions reads one comma-separated -o list.
func (o *options) parseOptions(list string) error {
	for _, kv := range strings.Split(list, ",") {
		if kv == "" {
			continue
		}
		key, val, hasVal := strings.Cut(kv, "=")
		if err := o.setOption(key, val, hasVal); err != nil {
			return err
		}
	}
	return nil
}

func (o *options) setOption(key, val string, hasVal bool) error {
	if key == "active" { // a flag, or active=ADDR to announce another address
		o.active = true
		if hasVal {
			if net.ParseIP(val) == nil {
				return fmt.Errorf("option active=%s: not an IP address; give the address the server should connect to, e.g. active=203.0.113.5, or just active", val)
			}
			o.activeAddr = val
		}
		return nil
	}
	if key == "tls" { // a flag (explicit FTPS) or tls=explicit|implicit
		switch {
		case !hasVal || val == "explicit":
			o.tls = conn.TLSExplicit
		case val == "implicit":
			o.tls = conn.TLSImplicit
		default:
			return fmt.Errorf("option tls=%s: want tls, tls=explicit or tls=implicit", val)
		}
		return nil
	}
	if setFlag, ok := o.flagOptions()[key]; ok {
		if hasVal {
			return fmt.Errorf("option %s takes no value", key)
		}
		*setFlag = true
		return nil
	}
	// mount(8)'s valueless "user" is not our user=NAME.
	if !hasVal && ignoredOptions[key] || strings.HasPrefix(key, "x-") || key == "comment" {
		return nil
	}
	if !hasVal {
		if _, known := o.valueOptions()[key]; known {
			return fmt.Errorf("option %s needs a value (%s=...)", key, key)
		}
		return fmt.Errorf("unknown option %q", key)
	}
	set, ok := o.valueOptions()[key]
	if !ok {
		return fmt.Errorf("unknown option %q", key)
	}
	if err := set(val); err != nil {
		return fmt.Errorf("option %s=%s: %w", key, val, err)
	}
	return nil
}

func (o *options) flagOptions() map[string]*bool {
	return map[string]*bool{
		"debug":               &o.debug,
		"ro":                  &o.readOnly,
		"allow_other":         &o.allowOther,
		"default_permissions": &o.defaultPermissions,
		"insecure":            &o.insecure,
		"nonempty":            &o.nonempty,
		"writeback":           &o.writeback,
		"direct_upload":       &o.directUpload,
		"tls_ccc":             &o.tlsCCC,
		"disable_mlsd":        &o.disableMLSD,
		"disable_exact_times": &o.disableExactTimes,
		"disable_data_ahead":  &o.disableDataAhead,
	}
}

func (o *options) valueOptions() map[string]func(string) error {
	return map[string]func(string) error{
		"port": func(v string) error {
			o.portSet = true
			return parseInt(v, 1, 65535, 10, func(n int64) { o.port = int(n) })
		},
		"user":               func(v string) error { o.user = v; return nil },
		"password_file":      func(v string) error { o.passwordFile = v; return nil },
		"cache_dir":          func(v string) error { o.cacheDir = v; return nil },
		"cache_max_size":     func(v string) error { return parseSize(v, &o.cacheMaxSize) },
		"log_file":           func(v string) error { o.logFile = v; return nil },
		"encoding":           func(v string) error { o.encoding = v; return nil },
		"cafile":             func(v string) error { o.cafile = v; return nil },
		"cache_timeout":      func(v string) error { return parseSeconds(v, true, &o.cacheTTL) },
		"negative_timeout":   func(v string) error { return parseTimeout(v, &o.negativeTTL) },
		"revalidate_timeout": func(v string) error { return parseTimeout(v, &o.revalidate) },
		"timeout":            func(v string) error { return parseSeconds(v, false, &o.timeout) },
		"retry_timeout":      func(v string) error { return parseSeconds(v, false, &o.retryTimeout) },
		"writeback_wait":     func(v string) error { return parseSeconds(v, true, &o.writebackWait) },
		"connections": func(v string) error {
			return parseInt(v, 1, 64, 10, func(n int64) { o.connections = int(n) })
		},
		"parallel": func(v string) error {
			return parseInt(v, 1, 64, 10, func(n int64) { o.parallel = int(n) })
		},
		"source_address": func(v string) error {
			if net.ParseIP(v) == nil {
				return errors.New("not an IP address of this machine (e.g. source_address=192.0.2.10)")
			}
			o.sourceAddr = v
			return nil
		},
		"account": func(v string) error { o.account = v; return nil },
		"verify": func(v string) error {
			switch v {
			case conn.VerifySize, conn.VerifyDigest:
				o.verify = v
			default:
				return errors.New("want verify=digest (the server's digest where it offers one, the default) or verify=size (the size only)")
			}
			return nil
		},
		"tls_data": func(v string) error {
			switch v {
			case "clear":
				o.clearData = true
			case "protected":
				o.clearData = false
			default:
				return errors.New("want tls_data=clear (data connections without TLS) or tls_data=protected (the default)")
			}
			return nil
		},
		"uid":   func(v string) error { return parseInt(v, 0, 1<<32-1, 10, func(n int64) { o.uid = n }) },
		"gid":   func(v string) error { return parseInt(v, 0, 1<<32-1, 10, func(n int64) { o.gid = n }) },
		"umask": func(v string) error { return parseInt(v, 0, 0o777, 8, func(n int64) { o.umask = n }) },
	}
}

func parseInt(v string, lo, hi int64, base int, set func(int64)) error {
	n, err := strconv.ParseInt(v, base, 64)
	if err != nil || n < lo || n > hi {
		if base == 8 {
			return fmt.Errorf("not an octal number from %o to %o", lo, hi)
		}
		return fmt.Errorf("not a number from %d to %d", lo, hi)
	}
	set(n)
	return nil
}

// parseSize reads a byte count: a whole number with an optional binary
// unit, K, M, G or T (also written KiB, MiB... or k, m, g, t), as in
// cache_max_size=512M.
func parseSize(v string, n *int64) error {
	num, unit := v, ""
	if i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, unit = v[:i], v[i:]
	}
	shift, ok := map[string]uint{"": 0, "B": 0, "K": 10, "KiB": 10, "M": 20, "MiB": 20, "G": 30, "GiB": 30, "T": 40, "TiB": 40,
		"k": 10, "m": 20, "g": 30, "t": 40}[unit]
	x, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || x < 0 || x > (1<<62)>>shift {
		return errors.New("not a size: a whole number of bytes, or with a unit K, M, G or T (1024-based), e.g. 512M or 2G; 0 turns it off")
	}
	*n = x << shift
	return nil
}

func parseSeconds(v string, zeroOK bool, d *time.Duration) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e6 || (!zeroOK && f == 0) {
		return errors.New("not a number of seconds")
	}
	*d = time.Duration(f * float64(time.Second))
	return nil
}

// parseTimeout reads seconds for an fs timeout whose zero means "the
// default": 0 given by the user becomes a nanosecond, i.e. every time.
func parseTimeout(v string, d *time.Duration) error {
	if err := parseSeconds(v, true, d); err != nil {
		return err
	}
	*d = max(*d, time.Nanosecond)
	return nil
}

// parseSource reads host:/path (sshfs style; an empty path means the login
// directory, a relative one is relative to it) or an ftp:// URL.
func (o *options) parseSource(src string) error {
	o.source = src
	if strings.Contains(src, "://") {
		return o.parseURL(src)
	}
	host, p, err := splitHostPath(src)
	if err != nil {
		return err
	}
	o.host, o.remotePath = host, p
	o.absolute = strings.HasPrefix(p, "/")
	return nil
}

// splitHostPath splits at the first colon outside brackets, so that an
// IPv6 address is written [::1]:/path.
func splitHostPath(src string) (host, path string, err error) {
	rest := src
	if strings.HasPrefix(src, "[") {
		end := strings.Index(src, "]")
		if end < 0 {
			return "", "", fmt.Errorf("source %q: unclosed [", src)
		}
		host, rest = src[1:end], src[end+1:]
		if host == "" || !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("source %q: expected host:/path", src)
		}
		return host, rest[1:], nil
	}
	host, path, ok := strings.Cut(rest, ":")
	if !ok || host == "" {
		return "", "", fmt.Errorf("source %q: expected host:/path or ftp://host/path", src)
	}
	return host, path, nil
}

// parseURL reads ftp://[user[:password]@]host[:port][/path]. As in RFC 1738
// and curl, the path is relative to the login directory; a path that starts
// with %2F (or a second slash) is absolute.
func (o *options) parseURL(src string) error {
	u, err := url.Parse(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	switch u.Scheme {
	case "ftp":
	case "ftps": // TLS from the first byte, on port 990 unless told otherwise
		o.tls = conn.TLSImplicit
	case "ftpes": // AUTH TLS on the usual port
		o.tls = conn.TLSExplicit
	default:
		return fmt.Errorf("source %q: unsupported scheme %q (want ftp://, ftps:// or ftpes://)", redactURL(u), u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("source %q: no host", redactURL(u))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("source %q: a query or fragment has no meaning here", redactURL(u))
	}
	o.host = u.Hostname()
	if ps := u.Port(); ps != "" && !o.portSet { // -o port= overrides
		if err := parseInt(ps, 1, 65535, 10, func(n int64) { o.port = int(n) }); err != nil {
			return fmt.Errorf("source port %s: %w", ps, err)
		}
		o.portSet = true
	}
	if u.User != nil {
		o.user = u.User.Username()
		o.password, o.hasURLPass = u.User.Password()
		o.password = strings.Clone(o.password) // maskArgv overwrites the argument's bytes
	}
	p := strings.TrimPrefix(u.Path, "/")
	o.remotePath = p
	o.absolute = strings.HasPrefix(p, "/")
	o.source = redactURL(u)
	return nil
}

// redactURL renders u without its password, for messages and the mount
// table.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// addr returns host:port for messages.
func (o *options) addr() string {
	return net.JoinHostPort(o.host, strconv.Itoa(o.port))
}
