package conn

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine of ours outlives
// them: pools, streams, their read-ahead and janitors must all end on Close.
// The in-process server's own goroutines and the LRU's expiry goroutine
// (which golang-lru never stops) are not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/fclairamb/ftpserverlib.(*clientHandler).HandleCommands"),
		goleak.IgnoreAnyFunction("github.com/fclairamb/ftpserverlib.(*FtpServer).Serve"),
		goleak.IgnoreAnyFunction("github.com/fclairamb/ftpserverlib.(*passiveTransferHandler).ConnectionWait"),
		goleak.IgnoreAnyFunction("github.com/fclairamb/ftpserverlib.(*clientHandler).handleStoreAndAppend"),
	)
}
