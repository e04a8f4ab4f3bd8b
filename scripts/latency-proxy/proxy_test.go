package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"reflect"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const testDelay = 25 * time.Millisecond

// startEcho serves on 127.0.0.1: every connection gets back what it sends,
// and a half-close once the client has half-closed. It returns the port.
func startEcho(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.Copy(c, c); err == nil {
					_ = c.(*net.TCPConn).CloseWrite()
					_, _ = io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProxy runs a proxy from 127.0.0.2:port to 127.0.0.1:port.
func startProxy(t *testing.T, port int) *Proxy {
	t.Helper()
	p, err := Start(Config{Listen: "127.0.0.2", Target: "127.0.0.1", Ports: []int{port},
		Delay: testDelay, DialDelay: 3 * testDelay, MaxBuffer: 64 << 20})
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Skip("127.0.0.2 is not a local address here")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func dialProxy(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	t0 := time.Now()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
	return time.Since(t0)
}

// A round trip takes 2×delay; the first, connection set-up included, 4×delay.
func TestRoundTrip(t *testing.T) {
	port := startEcho(t)
	startProxy(t, port)

	t0 := time.Now()
	c := dialProxy(t, port)
	roundTrip(t, c, "hello\n")
	first := time.Since(t0) // connect and the first echo
	if lo, hi := 4*testDelay, 4*testDelay+300*time.Millisecond; first < lo || first > hi {
		t.Errorf("connect and first round trip took %v, want %v (set-up and one round trip) to %v", first, lo, hi)
	}

	var rtts []time.Duration
	for i := 0; i < 7; i++ {
		rtts = append(rtts, roundTrip(t, c, "ping "+strconv.Itoa(i)+"\n"))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	if rtts[0] < 2*testDelay {
		t.Errorf("a round trip took %v, less than 2×delay = %v", rtts[0], 2*testDelay)
	}
	if med := rtts[len(rtts)/2]; med > 2*testDelay+60*time.Millisecond {
		t.Errorf("median round trip %v, want about 2×delay = %v", med, 2*testDelay)
	}
	t.Logf("first (with set-up) %v; round trips %v", first, rtts)
}

// 8 MiB go through intact and in order, a half-close comes back as EOF, and
// the delay does not throttle the bulk transfer.
func TestBulk(t *testing.T) {
	port := startEcho(t)
	startProxy(t, port)
	data := make([]byte, 8<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	c := dialProxy(t, port)
	t0 := time.Now()
	werr := make(chan error, 1)
	go func() {
		// Odd-sized writes, so that chunks do not line up with anything.
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 77777)
			if _, err := c.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest = rest[n:]
		}
		werr <- c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c) // until the echoed half-close
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(t0)
	if !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && i < len(data) && got[i] == data[i] {
			i++
		}
		t.Fatalf("got %d bytes, want %d; first difference at byte %d", len(got), len(data), i)
	}
	// Set-up (3×delay) and one round trip, plus the copying.
	if max := 5*testDelay + 5*time.Second; elapsed > max {
		t.Errorf("8 MiB took %v through the proxy, want under %v", elapsed, max)
	}
	t.Logf("8 MiB echoed in %v", elapsed)
}

// A target that refuses: the client's connection is reset once the dial
// delay has passed, not left hanging.
func TestRefusedTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	startProxy(t, port)
	c := dialProxy(t, port)
	t0 := time.Now()
	n, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatalf("read %d bytes from a connection to nothing", n)
	}
	if d := time.Since(t0); d > 3*testDelay+2*time.Second {
		t.Errorf("the connection to a refusing target ended after %v", d)
	}
}

// Close ends open connections at once.
func TestClose(t *testing.T) {
	port := startEcho(t)
	p := startProxy(t, port)
	c := dialProxy(t, port)
	roundTrip(t, c, "x")
	t0 := time.Now()
	p.Close()
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes after Close", n)
	}
}

func TestParsePorts(t *testing.T) {
	got, err := parsePorts("21021,21024-21026, 21022,21024")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{21021, 21022, 21024, 21025, 21026}; !reflect.DeepEqual(got, want) {
		t.Errorf("parsePorts: %v, want %v", got, want)
	}
	for _, bad := range []string{"", "x", "0", "70000", "5-3", "1-", "21,"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) accepted", bad)
		}
	}
}
