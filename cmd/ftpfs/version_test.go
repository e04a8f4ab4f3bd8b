package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionString(t *testing.T) {
	build := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ftpfs/ftpfs", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		set  string // -X main.version
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"go install of a tag", "", build("v1.2.3"), true, "ftpfs v1.2.3 go1.26.8"},
		{"clean checkout", "", build("(devel)", "vcs.revision", rev, "vcs.modified", "false"), true, "ftpfs devel " + rev + " go1.26.8"},
		{"changed checkout", "", build("(devel)", "vcs.revision", rev, "vcs.modified", "true"), true, "ftpfs devel " + rev + "-modified go1.26.8"},
		{"no VCS", "", build("(devel)"), true, "ftpfs devel (no VCS revision recorded) go1.26.8"},
		{"set by -X", "v9", build("(devel)", "vcs.revision", rev), true, "ftpfs v9 go1.26.8"},
		{"no build info", "", nil, false, "ftpfs unknown (no build info)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := version
			version = tt.set
			defer func() { version = saved }()
			if got := versionString(tt.info, tt.ok); got != tt.want {
				t.Errorf("versionString = %q, want %q", got, tt.want)
			}
		})
	}
}
