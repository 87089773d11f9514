package main

import "runtime/debug"

// version is the server's version, set at build time with
// -ldflags "-X main.version=…" (the Makefile's build does). If empty,
// serverVersion reads the build info Go records.
var version string

// serverVersion is what -version prints: the version set at build time,
// else the module version Go recorded (a tagged release, or a
// pseudo-version from the VCS), else the VCS revision, else "devel".
func serverVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "devel-" + rev + dirty
}
