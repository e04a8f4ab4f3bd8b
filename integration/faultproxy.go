package integration

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy sits between ftpfs and an FTP server and breaks things on
// demand. It listens on 127.0.0.2 on the server's control port and on each
// of its passive ports, and forwards to 127.0.0.1: EPSV replies name a
// port only, which the client dials on the control connection's address,
// so data connections pass through the proxy too.
type FaultProxy struct {
	Host string // 127.0.0.2
	Port int    // the control port, same number as the server's

	mu        sync.Mutex
	conns     map[*proxyConn]struct{} // guarded by mu
	listeners []net.Listener
	refuse    atomic.Bool  // new connections are closed at once
	stall     atomic.Int64 // nanoseconds to hold each server-to-client control chunk
	cutData   atomic.Int64 // bytes after which the next data connection is cut (0: off)
	rate      atomic.Int64 // bytes per second each data connection may move (0: unlimited)
	wg        sync.WaitGroup
}

type proxyConn struct {
	client, server net.Conn
	control        bool
}

// StartFaultProxy proxies the control port and the passive ports lo..hi of
// a server on 127.0.0.1. It stops in cleanup.
func StartFaultProxy(t testing.TB, port, lo, hi int) *FaultProxy {
	t.Helper()
	p := &FaultProxy{Host: "127.0.0.2", Port: port, conns: map[*proxyConn]struct{}{}}
	ports := []int{port}
	for i := lo; i <= hi; i++ {
		ports = append(ports, i)
	}
	for _, pt := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(p.Host, strconv.Itoa(pt)))
		if err != nil {
			p.Close()
			t.Fatalf("fault proxy: %v", err)
		}
		p.listeners = append(p.listeners, ln)
		p.wg.Add(1)
		go p.accept(ln, pt, pt == port)
	}
	t.Cleanup(p.Close)
	return p
}

// ProxyServer puts a fault proxy in front of srv and returns it with the
// server as ftpfs should see it: at the proxy's address.
func ProxyServer(t testing.TB, srv *Server) (*FaultProxy, *Server) {
	t.Helper()
	lo, hi := srv.PasvRange()
	proxy := StartFaultProxy(t, srv.Port, lo, hi)
	return proxy, &Server{Kind: srv.Kind, Host: proxy.Host, Port: srv.Port, User: srv.User, Password: srv.Password, Root: srv.Root}
}

func (p *FaultProxy) accept(ln net.Listener, port int, control bool) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s, control: control}
		p.mu.Lock()
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pc, c, s, false)
		go p.pipe(pc, s, c, true)
	}
}

// pipe copies one direction, applying the faults that concern it.
func (p *FaultProxy) pipe(pc *proxyConn, dst, src net.Conn, fromServer bool) {
	defer p.wg.Done()
	defer p.drop(pc)
	buf := make([]byte, 32<<10)
	var moved int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if pc.control && fromServer {
				if d := time.Duration(p.stall.Load()); d > 0 {
					time.Sleep(d)
				}
			}
			if r := p.rate.Load(); r > 0 && !pc.control {
				time.Sleep(time.Duration(int64(n) * int64(time.Second) / r))
			}
			if !pc.control {
				// The first data connection to pass the mark is cut there.
				if limit := p.cutData.Load(); limit > 0 && moved+int64(n) > limit && p.cutData.CompareAndSwap(limit, 0) {
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			moved += int64(n)
		}
		if err != nil {
			if err == io.EOF {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			return
		}
	}
}

func (p *FaultProxy) drop(pc *proxyConn) {
	pc.client.Close()
	pc.server.Close()
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// CutAll closes every connection passing through, control and data.
func (p *FaultProxy) CutAll() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		pc.client.Close()
		pc.server.Close()
	}
}

// CutNextData makes the next data connection break after n bytes.
func (p *FaultProxy) CutNextData(n int64) { p.cutData.Store(n) }

// Stall holds every reply on control connections for d (0 to stop).
func (p *FaultProxy) Stall(d time.Duration) { p.stall.Store(int64(d)) }

// Throttle limits each data connection to bytesPerSec (0: no limit), so
// that a transfer is still running when a test strikes.
func (p *FaultProxy) Throttle(bytesPerSec int64) { p.rate.Store(bytesPerSec) }

// Refuse closes new connections at once while on is set.
func (p *FaultProxy) Refuse(on bool) { p.refuse.Store(on) }

// Close stops the proxy and everything passing through it.
func (p *FaultProxy) Close() {
	for _, ln := range p.listeners {
		ln.Close()
	}
	p.CutAll()
	p.wg.Wait()
}
