package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEncodingGBK serves a file whose name is in GBK, as a Chinese server
// would, mounts with -o encoding=gbk, and round-trips names both ways.
func TestEncodingGBK(t *testing.T) {
	RequireFUSE(t)
	const (
		gbkName  = "\xd6\xd0\xce\xc4.txt" // "中文.txt" in GBK
		utf8Name = "中文.txt"
		newUTF8  = "新文件.txt"
		newGBK   = "\xd0\xc2\xce\xc4\xbc\xfe.txt"
	)
	for _, kind := range AllKinds() {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, gbkName), []byte("gbk\n"))
			srv := StartKind(t, kind, root)
			m := MountServer(t, srv, "encoding=gbk")
			b, err := os.ReadFile(filepath.Join(m.Dir, utf8Name))
			if err != nil || string(b) != "gbk\n" {
				t.Fatalf("read %s: %q, %v (names: %q)", utf8Name, b, err, dirNames(t, m.Dir))
			}
			write(t, filepath.Join(m.Dir, newUTF8), []byte("new\n"))
			mustEqualFile(t, filepath.Join(root, newGBK), []byte("new\n"))
			if names := dirNames(t, m.Dir); len(names) != 2 || names[0] != utf8Name && names[1] != utf8Name {
				t.Errorf("listing: %q", names)
			}
		})
	}
}
