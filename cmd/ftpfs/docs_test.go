package main

import (
	"os"
	"strings"
	"testing"
)

// TestEveryOptionIsDocumented checks that --help and the man page name
// every option the parser knows.
func TestEveryOptionIsDocumented(t *testing.T) {
	man, err := os.ReadFile("../../docs/ftpfs.1")
	if err != nil {
		t.Fatal(err)
	}
	o := &options{}
	names := []string{"tls", "tls=implicit", "active", "active="}
	for k := range o.flagOptions() {
		names = append(names, k)
	}
	for k := range o.valueOptions() {
		names = append(names, k+"=")
	}
	for _, n := range names {
		if !strings.Contains(usage, n) {
			t.Errorf("--help does not mention %s", n)
		}
		if !strings.Contains(string(man), strings.TrimSuffix(n, "=")) {
			t.Errorf("docs/ftpfs.1 does not mention %s", n)
		}
	}
}
