package fs

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine of a mount outlives
// it: listing ahead, small-file read-ahead, upload streams and the
// writeback workers must all end by Server.Close. The expiry goroutine of
// golang-lru's expirable cache is not ours: v2 gives no way to stop it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"),
	)
}
