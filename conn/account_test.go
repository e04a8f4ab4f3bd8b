package conn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAccount: a server that answers PASS with 332 gets ACCT (RFC 959
// section 4.1.1); the account is masked in the debug log like the
// password, and without one the error says which option gives it.
func TestAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := startFake(t, map[string]string{"PASS": "332 Need account for login."})
	tr := &transcript{}
	// Active: the fake server has no passive mode.
	p, err := Open(ctx, Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "pw-secret",
		Account: "acct-secret", Active: true, Timeout: 5 * time.Second, Logger: logTo(tr)})
	if err != nil {
		t.Fatalf("login with an account: %v", err)
	}
	ents, err := p.List(ctx, "/")
	p.Close()
	if err != nil || len(ents) != 1 {
		t.Fatalf("list after ACCT: %v, %v", ents, err)
	}
	// Open logs in twice (the second time to list with LIST -a).
	for _, got := range f.sent("ACCT") {
		if got != "ACCT acct-secret" {
			t.Errorf("the server got %q", got)
		}
	}
	if len(f.sent("ACCT")) == 0 {
		t.Error("no ACCT sent")
	}
	if log := tr.text(); strings.Contains(log, "secret") || !strings.Contains(log, "ACCT ****") {
		t.Errorf("the debug log shows a secret or no ACCT:\n%s", log)
	}

	_, err = Open(ctx, Config{Host: "127.0.0.1", Port: f.port(), User: "u", Password: "pw", Timeout: 5 * time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Code != 332 || !strings.Contains(err.Error(), "-o account=") {
		t.Fatalf("login without an account: %v", err)
	}
}
