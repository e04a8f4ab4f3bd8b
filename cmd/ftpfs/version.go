package main

import (
	"runtime/debug"
	"strings"
)

// version, when set at build time (-ldflags "-X main.version=v1.2.3"),
// is printed as is; otherwise --version reads the build info.
var version = ""

// versionString is what --version prints: the version, then the Go
// version that built it. Without -X main.version it is the module version
// (go install ...@v1.2.3), else the commit the binary was built from, with
// "-modified" when the work tree had changes, so that a bug report names
// the code it ran.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "ftpfs " + orUnknown(version) + " (no build info)"
	}
	v := version
	if v == "" {
		v = vcsVersion(info)
	}
	return "ftpfs " + v + " " + info.GoVersion
}

// vcsVersion names the build from the build info when no version was set.
func vcsVersion(info *debug.BuildInfo) string {
	if mv := info.Main.Version; mv != "" && mv != "(devel)" {
		return mv
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-modified"
			}
		}
	}
	if rev == "" {
		// go build -buildvcs=false, or a build outside a git checkout.
		return "devel (no VCS revision recorded)"
	}
	return "devel " + rev + modified
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.TrimSpace(s)
}
