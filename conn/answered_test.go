package conn

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestAnswerNotRetriedForAMinute checks that a server answering each
// attempt with a transient reply is asked a bounded number of times, not
// for RetryTimeout, and that a full disk is an answer at the first reply.
// (The fake server takes active mode only.)
func TestAnswerNotRetriedForAMinute(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := startFake(t, map[string]string{
		"LIST": "451 Local error",
		"STOR": "451 Failure writing to local file.",
	})
	p, err := Open(ctx, Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "p",
		Active: true, Timeout: 5 * time.Second, RetryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	start := time.Now()
	if _, err := p.List(ctx, "/"); !IsTransient(err) {
		t.Errorf("list: %v, want the transient 451", err)
	}
	if n := len(f.sent("LIST")); n != maxReplyRetries+1 {
		t.Errorf("LIST sent %d times, want %d", n, maxReplyRetries+1)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the list took %v", d)
	}

	_, err = p.Store(ctx, "/g", bytes.NewReader([]byte("data")), 4, Attrs{})
	if !errors.Is(err, ErrNoSpace) {
		t.Errorf("store: %v, want ErrNoSpace", err)
	}
	if n := len(f.sent("STOR")); n != 1 {
		t.Errorf("STOR sent %d times on a full disk, want 1", n)
	}
}
