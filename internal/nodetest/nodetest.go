// Package nodetest finds what tests driven by Node.js need: node itself and
// the npm packages of a test's own directory, which `scripts/deps.sh test`
// installs (`npm ci` for every committed package-lock.json).
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv is the environment variable that turns a missing node or npm
// package from a skip into a failure; `make test` sets it to 1.
const RequireEnv = "VICINITY_REQUIRE_NODE"

// Require returns the path of node. When node is not on PATH, or one of
// pkgs is missing from dir/node_modules, it skips tb, or fails it if
// RequireEnv is "1".
func Require(tb testing.TB, dir string, pkgs ...string) string {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(tb, dir, "node is not on PATH")
	}
	for _, pkg := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missing(tb, dir, filepath.ToSlash(filepath.Join(dir, "node_modules", pkg))+" is missing")
		}
	}
	return node
}

func missing(tb testing.TB, dir, what string) {
	tb.Helper()
	dir = fromModuleRoot(dir)
	msg := what + ": this test needs node (v20+) and the npm packages of " + dir +
		"; install them with `scripts/deps.sh test` or `npm ci` in " + dir
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatal(msg + " (" + RequireEnv + "=1: not skipping)")
	}
	tb.Skip(msg + "; set " + RequireEnv + "=1 to make this a failure")
}

// fromModuleRoot names dir from the module's root (where go.mod is), as a
// developer would type it there.
func fromModuleRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for root := abs; ; {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			if rel, err := filepath.Rel(root, abs); err == nil {
				return filepath.ToSlash(rel)
			}
			return dir
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dir
		}
		root = parent
	}
}
