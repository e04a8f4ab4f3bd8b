package conn

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeFTP is a scripted FTP server for what the in-process server cannot
// do: ask for an account (332), refuse EPRT, never connect back. It
// serves one file, "f", and lists it; replies overrides the answer to a
// verb.
type fakeFTP struct {
	t       *testing.T
	ln      net.Listener
	replies map[string]string // verb -> reply line(s), without the final CRLF
	// noConnect: answer a transfer with 150 and never connect back.
	noConnect bool
	// tls, when set, serves implicit FTPS: TLS from the first byte, on
	// data connections after PROT P, and CCC ends it on the control
	// connection (RFC 4217 section 12.3).
	tls *tls.Config
	// cleared records the commands received in clear after CCC.
	cleared []string
	// list, when set, is the body of every LIST reply instead of "f".
	list string
	// mdtm answers "MDTM name" with mdtm[name] ("213 ..."); names it
	// lacks get 550.
	mdtm map[string]string
	// holdMDTM, when set, makes the first MDTM wait, unanswered, until
	// holdMDTM MDTM commands have come or a second has passed; heldMDTM
	// says how many had come when the first reply was sent.
	holdMDTM int
	heldMDTM int
	// siteCopy serves SITE CPFR and SITE CPTO as proftpd's mod_copy does,
	// for "/f" only; the names copied to are in copied, and SIZE, RNFR,
	// RNTO and DELE answer for them. Without it, SITE is 500 as on
	// servers without mod_copy.
	siteCopy bool
	copied   []string // guarded by mu

	mu   sync.Mutex
	cmds []string // every command received, in order
	wg   sync.WaitGroup
}

const fakeContent = "hello from the fake server\n"

// startFake serves until the test ends; setup, if given, configures the
// server before it starts.
func startFake(t *testing.T, replies map[string]string, setup ...func(*fakeFTP)) *fakeFTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFTP{t: t, ln: ln, replies: replies}
	for _, fn := range setup {
		fn(f)
	}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeFTP) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeFTP) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			f.session(c)
		}()
	}
}

// sent returns the commands received with verb.
func (f *fakeFTP) sent(verb string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.cmds {
		if v, _, _ := strings.Cut(c, " "); v == verb {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeFTP) session(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if f.tls != nil {
		c = tls.Server(byteConn{c}, f.tls)
	}
	r := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 fake")
	var dataAddr string
	protected, clear := false, false
	cpfr := "" // the source named by SITE CPFR
	rnfr := "" // a copy named by RNFR
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		f.mu.Lock()
		f.cmds = append(f.cmds, line)
		if clear {
			f.cleared = append(f.cleared, line)
		}
		f.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		if rep, ok := f.replies[verb]; ok {
			say(rep)
			continue
		}
		switch verb {
		case "PBSZ":
			say("200 PBSZ=0")
		case "PROT":
			protected = arg == "P"
			say("200 PROT ok")
		case "CCC":
			tc, ok := c.(*tls.Conn)
			if !ok {
				say("533 CCC on a clear connection")
				continue
			}
			say("200 Clearing control channel protection")
			// Both sides send close_notify; the client's ends our reads.
			if err := tc.CloseWrite(); err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, tc); err != nil {
				return
			}
			c, clear = tc.NetConn().(byteConn).Conn, true
			// crypto/tls left a write deadline in the past.
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			r = bufio.NewReader(c)
		case "USER":
			say("331 password please")
		case "PASS", "ACCT":
			say("230 logged in")
		case "FEAT":
			say("211-Features:\r\n EPRT\r\n SIZE\r\n211 End")
		case "EPRT":
			p := strings.Split(arg, "|")
			dataAddr = net.JoinHostPort(p[2], p[3])
			say("200 EPRT ok")
		case "PORT":
			p := strings.Split(arg, ",")
			hi, _ := strconv.Atoi(p[4])
			lo, _ := strconv.Atoi(p[5])
			dataAddr = net.JoinHostPort(strings.Join(p[:4], "."), strconv.Itoa(hi<<8|lo))
			say("200 PORT ok")
		case "MDTM":
			if f.holdMDTM > 0 && f.held() == 0 {
				held := f.hold(c, r, line)
				for _, l := range held {
					_, name, _ := strings.Cut(l, " ")
					say(f.mdtmReply(name))
				}
				continue
			}
			say(f.mdtmReply(arg))
		case "LIST", "RETR":
			body := "-rw-r--r-- 1 u g " + strconv.Itoa(len(fakeContent)) + " Jan 01 2024 f\r\n"
			if f.list != "" {
				body = f.list
			}
			if verb == "RETR" {
				body = fakeContent
			}
			say("150 here it comes")
			if f.noConnect {
				continue
			}
			if dataAddr == "" {
				say("425 no data port")
				continue
			}
			d, err := net.DialTimeout("tcp", dataAddr, 5*time.Second)
			if err != nil {
				say("425 cannot connect")
				continue
			}
			if protected {
				d = tls.Server(d, f.tls)
			}
			_, _ = d.Write([]byte(body))
			d.Close()
			dataAddr = ""
			say("226 done")
		case "SITE":
			cpfr = f.site(arg, cpfr, say)
		case "RNFR":
			f.mu.Lock()
			known := slices.Contains(f.copied, arg)
			f.mu.Unlock()
			if !known {
				say("550 " + arg + ": No such file or directory")
				continue
			}
			rnfr = arg
			say("350 File or directory exists, ready for destination name")
		case "RNTO":
			if rnfr == "" {
				say("503 Bad sequence of commands")
				continue
			}
			f.mu.Lock()
			f.copied[slices.Index(f.copied, rnfr)] = arg
			f.mu.Unlock()
			rnfr = ""
			say("250 Rename successful")
		case "DELE":
			f.mu.Lock()
			f.copied = slices.DeleteFunc(f.copied, func(n string) bool { return n == arg })
			f.mu.Unlock()
			say("250 DELE command successful")
		case "SIZE":
			f.mu.Lock()
			known := arg == "/f" || slices.Contains(f.copied, arg)
			f.mu.Unlock()
			if !known {
				say("550 " + arg + ": No such file or directory")
				continue
			}
			say("213 " + strconv.Itoa(len(fakeContent)))
		case "PWD":
			say(`257 "/"`)
		case "QUIT":
			say("221 bye")
			return
		case "CWD":
			say("250 ok")
		case "TYPE", "NOOP":
			say("200 ok")
		default:
			say("502 not implemented")
		}
	}
}

// site answers SITE CPFR and CPTO as proftpd's mod_copy does, with the
// same replies, or SITE as a server without it does; cpfr is the source
// named by the last CPFR, and site returns it as it stands after this one.
func (f *fakeFTP) site(arg, cpfr string, say func(string)) string {
	sub, name, _ := strings.Cut(arg, " ")
	switch sub = strings.ToUpper(sub); {
	case !f.siteCopy:
		say("500 'SITE " + sub + "' not understood")
	case sub == "CPFR" && name == "/f":
		say("350 File or directory exists, ready for destination name")
		return name
	case sub == "CPFR":
		say("550 " + name + ": No such file or directory")
	case sub == "CPTO" && cpfr != "":
		f.mu.Lock()
		f.copied = append(f.copied, name)
		f.mu.Unlock()
		say("250 Copy successful")
	default:
		say("503 Bad sequence of commands")
	}
	return ""
}

// hold reads MDTM commands after first until holdMDTM have come or a
// second has passed without one, and returns them all, unanswered.
func (f *fakeFTP) hold(c net.Conn, r *bufio.Reader, first string) []string {
	held := []string{first}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for len(held) < f.holdMDTM {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		line = strings.TrimRight(line, "\r\n")
		f.mu.Lock()
		f.cmds = append(f.cmds, line)
		f.mu.Unlock()
		held = append(held, line)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	f.mu.Lock()
	f.heldMDTM = len(held)
	f.mu.Unlock()
	return held
}

func (f *fakeFTP) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heldMDTM
}

func (f *fakeFTP) mdtmReply(name string) string {
	if rep, ok := f.mdtm[name]; ok {
		return rep
	}
	return "550 Could not get file modification time."
}

// byteConn reads one byte at a time, so that crypto/tls, which otherwise
// reads ahead, consumes no clear byte after the client's close_notify.
type byteConn struct{ net.Conn }

func (b byteConn) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return b.Conn.Read(p)
}
