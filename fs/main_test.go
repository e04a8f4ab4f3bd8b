package fs

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine of a mount outlives
// it: listing ahead, small-file read-ahead, upload streams and the
// writeback workers must all end by Server.Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
