package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// lazyUnmount detaches a busy mount: it disappears from the tree at once and
// goes away when the last open file is closed.
func lazyUnmount(mnt string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(mnt, syscall.MNT_DETACH)
	}
	for _, prog := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(prog); err == nil {
			out, err := exec.Command(p, "-u", "-z", mnt).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s -u -z: %v: %s", prog, err, out)
			}
			return nil
		}
	}
	return fmt.Errorf("no fusermount3 to unmount %s", mnt)
}
