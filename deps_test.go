package seshat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// module is this module's import path.
const module = "github.com/seshat-host/seshat"

// listedPackage is the part of `go list -json` output the rules need.
type listedPackage struct {
	ImportPath string
	Name       string
	Standard   bool
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -deps -json ./...` and returns this module's
// packages by path (relative to the module, "" for the root) and whether
// each import path seen is in the standard library. It lists with -e so
// that a package another change left broken does not hide the rest; the
// build reports that one.
func listPackages(t *testing.T) (ours map[string]listedPackage, standard map[string]bool) {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Name,Standard,Imports,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())

	ours = map[string]listedPackage{}
	standard = map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		standard[p.ImportPath] = p.Standard
		if rel, ok := relPath(p.ImportPath); ok {
			ours[rel] = p
		}
	}
	require.Contains(t, ours, "actors/agent", "go list found this module's packages")
	return ours, standard
}

// relPath returns an import path relative to the module, and false for
// paths outside it.
func relPath(importPath string) (string, bool) {
	if importPath == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return rel, ok
}

// familyPackages are the API families' own packages under actors/: plain
// Go over persist, without actors (protoactor or actors/{host,session,jobs}).
var familyPackages = map[string]bool{
	"actors/files":   true,
	"actors/tenancy": true,
	"actors/routing": true,
	"actors/quota":   true,
	// knowledge runs its ingestion actors on a protoactor system of its
	// own; it never reaches the session runtime either.
	"actors/knowledge": true,
	"actors/skills":    true,
	"actors/plans":     true,
	"actors/agents":    true,
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// TestDependencyRules enforces STYLE.md's "Rules that deps_test.go
// checks", so that the package map holds as the code grows.
func TestDependencyRules(t *testing.T) {
	ours, standard := listPackages(t)

	// Direct imports of our packages, split into ours (relative paths)
	// and others.
	for pkg, p := range ours {
		var own, other []string
		for _, imp := range p.Imports {
			if rel, ok := relPath(imp); ok {
				own = append(own, rel)
			} else {
				other = append(other, imp)
			}
		}
		check := func(ok bool, format string, args ...any) {
			t.Helper()
			if !ok {
				t.Errorf("%s: "+format, append([]any{pkg}, args...)...)
			}
		}

		// actors/agent, actors/egress, http/apitype, http/apispec,
		// http/console and compat/eventstream import only the standard
		// library.
		if pkg == "actors/agent" || pkg == "actors/egress" || pkg == "http/apitype" || pkg == "http/apispec" || pkg == "http/console" || pkg == "compat/eventstream" {
			check(len(own) == 0, "must import only the standard library, imports %v", own)
			for _, imp := range other {
				check(standard[imp], "must import only the standard library, imports %s", imp)
			}
		}

		// persist imports nothing of ours (persisttest is its test helper).
		if pkg == "persist" {
			check(len(own) == 0, "must import nothing of this module, imports %v", own)
		}

		// compat/… imports only actors/agent, compat/… and the standard
		// library.
		if under(pkg, "compat") {
			for _, imp := range own {
				check(imp == "actors/agent" || under(imp, "compat"), "may import only actors/agent and compat/…, imports %s", imp)
			}
			for _, imp := range other {
				check(standard[imp], "may import only the standard library besides ours, imports %s", imp)
			}
		}

		for _, imp := range own {
			// Nothing imports cmd/….
			check(!under(imp, "cmd"), "must not import %s: nothing imports cmd/…", imp)

			// Outside http/, only cmd/seshat imports http/…, and bench/
			// may import http/apitype.
			if under(imp, "http") && !under(pkg, "http") {
				ok := pkg == "cmd/seshat" || (under(pkg, "bench") && imp == "http/apitype")
				check(ok, "must not import %s: outside http/ only cmd/seshat imports http/… (bench/ may import http/apitype)", imp)
			}

			// httpapi reaches the runtime through host, agent and the
			// family packages it serves.
			if pkg == "http/httpapi" && under(imp, "actors") {
				check(imp == "actors/host" || imp == "actors/agent" || familyPackages[imp],
					"must not import %s: only actors/host, actors/agent and the family packages", imp)
			}

			// grpcapi reaches the runtime through host, agent and the
			// family packages it serves, and never through httpapi.
			if pkg == "http/grpcapi" && under(imp, "actors") {
				check(imp == "actors/host" || imp == "actors/agent" || imp == "actors/memory" || familyPackages[imp],
					"must not import %s: only actors/host, actors/agent and the family packages it serves", imp)
			}
			check(pkg != "http/grpcapi" || imp != "http/httpapi", "must not import http/httpapi: the surfaces share http/apierr")

			// apierr maps the errors of agent, persist and auth, and nothing
			// else of ours.
			if pkg == "http/apierr" {
				ok := imp == "actors/agent" || imp == "persist" || imp == "http/auth" || imp == "http/apitype"
				check(ok, "must not import %s: only actors/agent, persist, http/auth and http/apitype", imp)
			}

			// The generated gRPC code imports only itself.
			if under(pkg, "proto") {
				check(under(imp, "proto"), "generated code must not import %s", imp)
			}

			// The files family imports only agent, tenancy and persist.
			if pkg == "actors/files" {
				check(imp == "actors/agent" || imp == "actors/tenancy" || imp == "persist", "must not import %s: only actors/agent, actors/tenancy and persist", imp)
			}

			// tenancy imports only agent and persist: every family may
			// check roles with it.
			if pkg == "actors/tenancy" {
				check(imp == "actors/agent" || imp == "persist", "must not import %s: only actors/agent and persist", imp)
			}

			// routing imports agent, provider, tenancy and persist.
			if pkg == "actors/routing" {
				ok := imp == "actors/agent" || imp == "actors/provider" || imp == "actors/tenancy" || imp == "persist"
				check(ok, "must not import %s: only actors/{agent,provider,tenancy} and persist", imp)
			}

			// quota imports agent, provider, tenancy and persist.
			if pkg == "actors/quota" {
				ok := imp == "actors/agent" || imp == "actors/provider" || imp == "actors/tenancy" || imp == "persist"
				check(ok, "must not import %s: only actors/{agent,provider,tenancy} and persist", imp)
			}

			// The family packages never reach the actor runtime.
			if familyPackages[pkg] {
				check(imp != "actors/host" && imp != "actors/session" && imp != "actors/jobs",
					"must not import %s: a family package does not reach the actor runtime", imp)
			}

			// persisttest is for tests only.
			check(imp != "persist/persisttest", "must not import persist/persisttest outside _test.go files")
			check(imp != "actors/skills/skillstest", "must not import actors/skills/skillstest outside _test.go files")
		}

		// protoactor-go only in actors/{host,session,jobs}, the ingestion
		// actors of actors/knowledge, the connection actors of
		// actors/mcpconn, the grains of actors/cluster, and cmd/.
		for _, imp := range other {
			if strings.HasPrefix(imp, "github.com/asynkron/protoactor-go") {
				ok := pkg == "actors/host" || pkg == "actors/session" || pkg == "actors/jobs" || pkg == "actors/knowledge" || pkg == "actors/mcpconn" || pkg == "actors/cluster" || under(pkg, "cmd")
				check(ok, "must not import %s: protoactor-go is for actors/{host,session,jobs,knowledge,mcpconn,cluster} and cmd/", imp)
			}
		}

		// bench/… reaches nothing under actors/ but agent, nothing under
		// persist, and nothing under http/ but apitype, even indirectly.
		if under(pkg, "bench") {
			for _, dep := range p.Deps {
				rel, ok := relPath(dep)
				if !ok {
					continue
				}
				check(!under(rel, "actors") || rel == "actors/agent", "must not depend on %s", rel)
				check(!under(rel, "persist"), "must not depend on %s", rel)
				check(!under(rel, "http") || rel == "http/apitype", "must not depend on %s", rel)
			}
		}

		// persist depends on nothing of ours, even indirectly.
		if pkg == "persist" {
			for _, dep := range p.Deps {
				_, mine := relPath(dep)
				check(!mine, "must not depend on %s", dep)
			}
		}
	}
}

// TestHTTPIsANamespace enforces that http/ holds packages but is none
// itself, and that no package is named http, which would shadow net/http.
func TestHTTPIsANamespace(t *testing.T) {
	goFiles, err := filepath.Glob(filepath.Join("http", "*.go"))
	require.NoError(t, err)
	require.Empty(t, goFiles, "http/ is a namespace directory and holds no .go files")

	ours, _ := listPackages(t)
	for pkg, p := range ours {
		require.NotEqual(t, "http", p.Name, "%s: no package is named http", pkg)
	}
	_, err = os.Stat(filepath.Join("http", "httpapi"))
	require.NoError(t, err)
}
