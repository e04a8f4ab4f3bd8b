package conn

import (
	"errors"
	"log/slog"
	"net"
	"net/textproto"
	"testing"
	"time"
)

func TestEPSVPort(t *testing.T) {
	for _, c := range []struct {
		msg  string
		port int
		ok   bool
	}{
		{"Entering Extended Passive Mode (|||41031|)", 41031, true},
		{"Extended Passive mode OK (|||65535|)", 65535, true},
		{"Entering Extended Passive Mode (|||0|)", 0, false},
		{"Entering Extended Passive Mode (|||65536|)", 0, false},
		{"Entering Extended Passive Mode (|||x|)", 0, false},
		{"Entering Extended Passive Mode", 0, false},
		{"(|||)", 0, false},
	} {
		port, ok := epsvPort(c.msg)
		if port != c.port || ok != c.ok {
			t.Errorf("epsvPort(%q) = %d, %v; want %d, %v", c.msg, port, ok, c.port, c.ok)
		}
	}
}

// aheadSession is a session with a data connection opened ahead at, dialed
// or not; the connection is one end of a pipe.
func aheadSession(t *testing.T, at time.Time, rtt time.Duration, dialed bool) *Session {
	a := &aheadConn{done: make(chan struct{}), cancel: func() {}, at: at, rtt: rtt, expire: time.NewTimer(time.Hour)}
	if dialed {
		c1, c2 := net.Pipe()
		t.Cleanup(func() { c1.Close(); c2.Close() })
		a.nc = c1
		close(a.done)
	}
	return &Session{ahead: a, timeout: time.Second, cfg: &Config{}}
}

// TestPopIdlePrefersReadyAhead: a transfer waits for a data connection
// that is still being opened, or that the server cannot have accepted yet
// (less than a round trip old), so the pool hands out another idle
// session first, and the most recently used one otherwise.
func TestPopIdlePrefersReadyAhead(t *testing.T) {
	now := time.Now()
	old := aheadSession(t, now.Add(-time.Second), 50*time.Millisecond, true)
	fresh := aheadSession(t, now, time.Hour, true)
	dialing := aheadSession(t, now, 0, false)
	none := &Session{}
	p := &Pool{closed: true} // closed: no spare session is dialed
	p.idle = []*Session{old, none, fresh, dialing}
	for _, want := range []*Session{none, old} {
		if got := p.popIdle(); got != want {
			t.Fatalf("popIdle handed out the wrong session (ahead %+v)", got.ahead)
		}
	}
	if got := p.popIdle(); got != dialing {
		t.Fatalf("with only sessions still opening: want the most recently used")
	}
	close(dialing.ahead.done) // the dial ended (with nothing: a failure)
}

// TestAheadFailedLearns425: a transfer on a connection opened ahead that
// the server answers with 425 turns the feature off for the mount; other
// failures, and a 425 on a connection opened for the transfer, do not.
func TestAheadFailedLearns425(t *testing.T) {
	refused := &textproto.Error{Code: 425, Msg: "Can't open data connection."}
	for _, c := range []struct {
		name  string
		used  bool
		err   error
		learn bool
	}{
		{"425 on a connection opened ahead", true, refused, true},
		{"wrapped", true, wrapErr("stor", "/f", refused), true},
		{"550 on a connection opened ahead", true, &textproto.Error{Code: 550, Msg: "No such file"}, false},
		{"425 on a connection opened for it", false, refused, false},
		{"a network error", true, errors.New("connection reset"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := newRefusals(slog.New(slog.DiscardHandler))
			s := &Session{ctl: &ctlConn{ref: ref}, usedAhead: c.used}
			if err := s.aheadFailed(c.err); err != c.err {
				t.Errorf("aheadFailed changed the error: %v", err)
			}
			if got := ref.refused(optAhead); got != c.learn {
				t.Errorf("learnt: %v, want %v", got, c.learn)
			}
			if s.usedAhead {
				t.Errorf("usedAhead still set after the transfer")
			}
		})
	}
}

// TestTakeAheadDropsOld: a connection opened ahead longer ago than
// aheadMaxAge is closed, not used.
func TestTakeAheadDropsOld(t *testing.T) {
	s := aheadSession(t, time.Now().Add(-aheadMaxAge-time.Second), 0, true)
	s.ctl = &ctlConn{}
	nc := s.ahead.nc
	if d := s.takeAhead(); d != nil {
		t.Fatal("an old connection opened ahead was used")
	}
	if _, err := nc.Write([]byte("x")); err == nil {
		t.Error("the old connection was not closed")
	}
	s2 := aheadSession(t, time.Now(), 0, true)
	s2.ctl = &ctlConn{}
	if d := s2.takeAhead(); d == nil || s2.ahead != nil || !s2.usedAhead {
		t.Error("a fresh connection opened ahead was not handed over")
	}
}

// TestAheadExpires: a connection opened ahead and not used within
// aheadMaxAge is closed then, not held for the session's idle life; the
// session's next transfer opens its own.
func TestAheadExpires(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Session{timeout: 5 * time.Second, cfg: &Config{}, ctl: &ctlConn{}}
	s.startAhead(ln.Addr().String(), 0)
	defer s.dropAhead()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-s.ahead.done
	s.ahead.expireNow() // what the timer does at aheadMaxAge
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server's end of an expired connection opened ahead got data, want EOF")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an expired connection opened ahead is still open")
	}
	if d := s.takeAhead(); d != nil {
		t.Error("an expired connection opened ahead was handed to a transfer")
	}
}
