package integration

import (
	"testing"
	"time"
)

// TestRunSkipsMissingTool: a test that needs a tool the machine lacks is
// skipped with the tool's name, not failed.
func TestRunSkipsMissingTool(t *testing.T) {
	var skipped bool
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Run(t, time.Second, "ftpfs-test-no-such-tool")
	})
	if !skipped {
		t.Error("Run of a missing tool did not skip the test")
	}
}
