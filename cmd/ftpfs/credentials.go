package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
)

// anonymousPassword is what anonymous logins send; servers expect an email
// address-like string and accept this one.
const anonymousPassword = "ftpfs@"

// credentials picks the user and password in the documented order: the URL,
// password_file, $FTPFS_PASSWORD, ~/.netrc, a prompt on the terminal;
// anonymous when no user was given. A user with no password from any of
// them is an error.
func credentials(o *options) (user, password string, err error) {
	user = o.user
	switch {
	case o.hasURLPass:
		return user, o.password, nil
	case o.passwordFile != "":
		password, err = readPasswordFile(o.passwordFile)
		return orAnonymous(user), password, err
	}
	if pw, ok := os.LookupEnv("FTPFS_PASSWORD"); ok {
		return orAnonymous(user), pw, nil
	}
	if login, pw, ok := netrcLookup(o.host, user); ok {
		if user == "" {
			user = login
		}
		return orAnonymous(user), pw, nil
	}
	if user == "" || user == "anonymous" || user == "ftp" {
		return orAnonymous(user), anonymousPassword, nil
	}
	if pw, ok := prompt(user, o.host); ok {
		return user, pw, nil
	}
	return "", "", noPasswordError(user, o.host)
}

// noPasswordError says that no source had a password, and lists them: an
// empty PASS would only earn a 530 from the server seconds later, which
// hides the cause.
func noPasswordError(user, host string) error {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Errorf("no password for %s@%s: give it in the URL (ftp://%s:PASSWORD@%s/), "+
		"in a file with -o password_file=PATH, in $FTPFS_PASSWORD or in ~/.netrc, "+
		"or run ftpfs on a terminal to be asked for it", user, host, user, host)
}

// ttyPath is the terminal prompt asks on; tests point it elsewhere.
var ttyPath = "/dev/tty"

// prompt asks for the password on the terminal, without echo. It reports
// false when there is no terminal to ask on (a service, a pipe, setsid).
// An empty answer typed on the terminal is a password like any other.
func prompt(user, host string) (string, bool) {
	tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
	if err != nil {
		return "", false
	}
	defer tty.Close()
	if !term.IsTerminal(int(tty.Fd())) {
		return "", false
	}
	fmt.Fprintf(tty, "Password for %s@%s: ", user, host)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", false
	}
	return string(pw), true
}

func orAnonymous(user string) string {
	if user == "" {
		return "anonymous"
	}
	return user
}

// readPasswordFile returns the first line of the file, without its line
// ending: editors add a newline that is not part of the password.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("password_file %s: %w", path, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// netrcLookup finds the login and password for host in ~/.netrc: the first
// "machine host" entry (whose login matches user, if a user was given),
// else the "default" entry. Like ftp(1), it ignores a netrc that others can
// read.
func netrcLookup(host, user string) (login, password string, ok bool) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", false
	}
	path := filepath.Join(home, ".netrc")
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", false
	}
	if fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "ftpfs: ignoring %s: it is readable by others (chmod 600 it)\n", path)
		return "", "", false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", false
	}
	return parseNetrc(string(data), host, user)
}

// netrcEntry is one machine or default block of a netrc file.
type netrcEntry struct {
	machine   string // "" for default
	isDefault bool
	login     string
	password  string
}

// parseNetrc returns the credentials for host (and user, if given) from
// the text of a netrc file.
func parseNetrc(text, host, user string) (login, password string, ok bool) {
	var def *netrcEntry
	for _, e := range netrcEntries(text) {
		if user != "" && e.login != "" && e.login != user {
			continue
		}
		if e.isDefault {
			if def == nil {
				def = &e
			}
			continue
		}
		if strings.EqualFold(e.machine, host) {
			return e.login, e.password, true
		}
	}
	if def != nil {
		return def.login, def.password, true
	}
	return "", "", false
}

// netrcEntries splits a netrc file into its entries; macdef bodies (which
// run to the next blank line) are skipped.
func netrcEntries(text string) []netrcEntry {
	var out []netrcEntry
	var cur *netrcEntry
	lines := strings.Split(text, "\n")
	for li := 0; li < len(lines); li++ {
		f := strings.Fields(lines[li])
		for i := 0; i < len(f); i++ {
			next := func() string {
				if i+1 < len(f) {
					i++
					return f[i]
				}
				return ""
			}
			switch f[i] {
			case "machine":
				out = append(out, netrcEntry{machine: next()})
				cur = &out[len(out)-1]
			case "default":
				out = append(out, netrcEntry{isDefault: true})
				cur = &out[len(out)-1]
			case "login":
				if v := next(); cur != nil {
					cur.login = v
				}
			case "password":
				if v := next(); cur != nil {
					cur.password = v
				}
			case "account":
				next()
			case "macdef":
				for li+1 < len(lines) && strings.TrimSpace(lines[li+1]) != "" {
					li++
				}
				i = len(f)
			}
		}
	}
	return out
}
