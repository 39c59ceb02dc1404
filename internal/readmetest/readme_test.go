package readmetest

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/realtime"
	"github.com/vicinity-go/vicinity/transport"
)

const module = "github.com/vicinity-go/vicinity"

// repoRoot is the repository's root, where README.md and go.mod are.
var repoRoot = filepath.Join("..", "..")

// snippet is one ```go block of the README.
type snippet struct {
	line      int    // README line of the block's first line of code
	signature string // from <!-- snippet: func(...) -->; "" for none
	code      string
}

// whole reports whether the snippet is a whole file, with a package clause.
func (s snippet) whole() bool {
	for l := range strings.Lines(s.code) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		return strings.HasPrefix(l, "package ")
	}
	return false
}

var snippetComment = regexp.MustCompile(`^<!--\s*snippet:\s*(.*?)\s*-->$`)

// goSnippets returns the ```go blocks of a Markdown text, with the
// signature named by the comment on the line before each fence.
func goSnippets(markdown string) ([]snippet, error) {
	lines := strings.Split(markdown, "\n")
	var out []snippet
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		s := snippet{line: i + 2}
		if i > 0 {
			if m := snippetComment.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				s.signature = m[1]
			}
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README.md:%d: unterminated ```go block", i+1)
		}
		s.code = strings.Join(lines[i+1:end], "\n") + "\n"
		out = append(out, s)
		i = end
	}
	return out, nil
}

// knownImports are the packages a function-body snippet may use without
// importing them, by the name it uses.
var knownImports = map[string]string{
	"context":   "context",
	"errors":    "errors",
	"fmt":       "fmt",
	"http":      "net/http",
	"json":      "encoding/json",
	"log":       "log",
	"slog":      "log/slog",
	"os":        "os",
	"time":      "time",
	"realtime":  module + "/realtime",
	"presence":  module + "/presence",
	"spatial":   module + "/spatial",
	"transport": module + "/transport",
	"client":    module + "/client",
	"admin":     module + "/admin",
}

// qualified finds name.Exported not preceded by a selector: a package use.
var qualified = regexp.MustCompile(`(?:^|[^.\w])([a-z]\w*)\.[A-Z]`)

// source returns the Go file checking s, in package pkg, with a line
// directive so that the compiler's positions are the README's.
func (s snippet) source(pkg string) (string, error) {
	if s.whole() {
		if s.signature != "" {
			return "", fmt.Errorf("README.md:%d: a whole file takes no snippet comment", s.line)
		}
		return fmt.Sprintf("//line README.md:%d\n%s", s.line, s.code), nil
	}
	sig := s.signature
	if sig == "" {
		sig = "func()"
	}
	if !strings.HasPrefix(sig, "func(") {
		return "", fmt.Errorf("README.md:%d: snippet comment %q is not a func signature", s.line-1, sig)
	}
	body := "func _" + strings.TrimPrefix(sig, "func") + " {\n" +
		fmt.Sprintf("//line README.md:%d\n", s.line) + s.code + "}\n"
	var imports []string
	for _, m := range qualified.FindAllStringSubmatch(body, -1) {
		if path, ok := knownImports[m[1]]; ok && !slices.Contains(imports, path) {
			imports = append(imports, path)
		}
	}
	sort.Strings(imports)
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	for _, path := range imports {
		fmt.Fprintf(&b, "import %q\n", path)
	}
	b.WriteString("\n" + body)
	return b.String(), nil
}

// checkSnippets writes every snippet of markdown to a module using this
// repository and runs one go vet over them; it returns what failed, with
// README lines.
func checkSnippets(t *testing.T, markdown string) error {
	t.Helper()
	snippets, err := goSnippets(markdown)
	if err != nil {
		return err
	}
	if len(snippets) == 0 {
		return fmt.Errorf("no ```go block")
	}
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	dir := t.TempDir()
	goMod := fmt.Sprintf("module readmesnippets\n\ngo 1.26\n\nrequire %s v0.0.0\n\nreplace %s => %s\n", module, module, root)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err, "read go.sum")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))

	var problems []string
	for i, s := range snippets {
		formatted, err := format.Source([]byte(s.code))
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("README.md:%d: snippet does not parse: %v", s.line, err))
			continue
		case !bytes.Equal(formatted, []byte(s.code)):
			problems = append(problems, fmt.Sprintf("README.md:%d: snippet is not gofmt'd; gofmt makes it:\n%s", s.line, formatted))
		}
		pkg := fmt.Sprintf("snippet%d", i)
		src, err := s.source(pkg)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		sub := filepath.Join(dir, pkg)
		require.NoError(t, os.Mkdir(sub, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sub, "snippet.go"), []byte(src), 0o644))
	}

	// One go vet for all: it type-checks every snippet, then vets it.
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = dir
	// The module proxy stays the environment's: resolving the snippets'
	// module graph may need a go.mod that building the repository did not
	// (a fresh module cache lacks them).
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		out = vetPath.ReplaceAll(out, []byte("README.md:"))
		problems = append(problems, fmt.Sprintf("go vet: %v\n%s", err, out))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// vetPath is how go vet names a snippet's position: snippet3/README.md:12.
var vetPath = regexp.MustCompile(`snippet\d+/README\.md:`)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	require.NoError(t, err, "read README.md")
	return string(b)
}

// TestREADMESnippetsCompile compiles and vets every Go snippet of the
// README.
func TestREADMESnippetsCompile(t *testing.T) {
	require.NoError(t, checkSnippets(t, readme(t)))
}

// TestCheckSnippetsNamesTheLine shows that a snippet that does not compile
// fails with its README line, and that the conventions hold.
func TestCheckSnippetsNamesTheLine(t *testing.T) {
	md := strings.Join([]string{
		"# x", // 1
		"<!-- snippet: func(s *realtime.Socket) -->", // 2
		"```go",                        // 3
		"_ = s.Near(500).Emit(\"hi\")", // 4
		"```",                          // 5
		"",                             // 6
		"```go",                        // 7
		"srv := realtime.New()",        // 8
		"srv.AddArea(\"park\", spatial.Fence{Circle: &spatial.Circle{Center: park, Radius: 300}})", // 9
		"```", // 10
		"",    // 11
		"```go",
		"package main",
		"",
		"func main() {}",
		"```",
	}, "\n")
	err := checkSnippets(t, md)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "\nvet: README.md:9:", "the undefined name's line")
	assert.Contains(t, err.Error(), "undefined: park")
	assert.NotContains(t, err.Error(), "README.md:4:", "a good fragment")
	assert.NotContains(t, err.Error(), "README.md:13:", "a good whole file")
}

func TestGoSnippets(t *testing.T) {
	got, err := goSnippets("text\n<!-- snippet: func(ctx context.Context) error -->\n```go\nreturn nil\n```\n```sh\nmake\n```\n```go\npackage main\n```\n")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, snippet{line: 4, signature: "func(ctx context.Context) error", code: "return nil\n"}, got[0])
	assert.Equal(t, snippet{line: 10, code: "package main\n"}, got[1])
	assert.True(t, got[1].whole())

	_, err = goSnippets("```go\nx := 1\n")
	assert.ErrorContains(t, err, "README.md:1: unterminated")
}

// TestREADMEStartsWithMakeRunAndTest keeps the README's two opening
// commands.
func TestREADMEStartsWithMakeRunAndTest(t *testing.T) {
	md := readme(t)
	start := strings.Index(md, "```sh\n")
	require.GreaterOrEqual(t, start, 0, "no sh block")
	block := md[start+len("```sh\n"):]
	block = block[:strings.Index(block, "```")]
	var cmds []string
	for l := range strings.Lines(block) {
		cmd, _, _ := strings.Cut(l, "#")
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	assert.Equal(t, []string{"make run", "make test"}, cmds)
}

// optionRow is a row of the README's options tables.
type optionRow struct {
	line     int
	name     string // WithXxx
	defaults string
}

var optionCell = regexp.MustCompile("^\\| `(With\\w+)\\(")

// optionTables returns the rows of the tables of the README's Options
// section, the realtime table's and the transport table's.
func optionTables(t *testing.T, md string) (rt, tr []optionRow) {
	t.Helper()
	lines := strings.Split(md, "\n")
	in, table := false, &rt
	for i, l := range lines {
		switch {
		case l == "## Options":
			in = true
		case in && strings.HasPrefix(l, "## "):
			return rt, tr
		case in && strings.HasPrefix(l, "`transport` options"):
			table = &tr
		case in && optionCell.MatchString(l):
			cells := strings.Split(l, "|")
			require.GreaterOrEqual(t, len(cells), 4, "README.md:%d: an options row has 3 cells", i+1)
			*table = append(*table, optionRow{line: i + 1, name: optionCell.FindStringSubmatch(l)[1], defaults: strings.TrimSpace(cells[2])})
		}
	}
	require.True(t, in, "README.md has no ## Options")
	return rt, tr
}

// exportedOptions returns the names of the exported WithXxx functions
// declared in the given files of a package.
func exportedOptions(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, pattern))
	require.NoError(t, err)
	require.NotEmpty(t, files, pattern)
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err, "parse %s", f)
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.IsExported() && strings.HasPrefix(fn.Name.Name, "With") {
				names = append(names, fn.Name.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func rowNames(rows []optionRow) []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.name)
	}
	sort.Strings(names)
	return names
}

// thousands writes n with commas: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestREADMEOptions checks the options tables against the code: every
// option listed, none that does not exist, and the defaults the code
// exports as constants.
func TestREADMEOptions(t *testing.T) {
	rt, tr := optionTables(t, readme(t))
	assert.Equal(t, exportedOptions(t, "realtime/*.go"), rowNames(rt), "realtime.New's options")
	var engine []string
	for _, name := range exportedOptions(t, "transport/options.go") {
		switch name {
		case "WithTransports", "WithLogger": // realtime passes its own
		case "WithAllowEIO3": // realtime.WithAllowEIO3 in the realtime table
		default:
			engine = append(engine, name)
		}
	}
	assert.Equal(t, engine, rowNames(tr), "transport options")

	want := map[string]string{
		"realtime.WithPath":            "`" + realtime.DefaultPath + "`",
		"realtime.WithConnectTimeout":  realtime.DefaultConnectTimeout.String(),
		"realtime.WithMaxAttachments":  strconv.Itoa(realtime.DefaultMaxAttachments),
		"realtime.WithEventRate":       fmt.Sprintf("%v/s, burst %v", realtime.DefaultEventRate, realtime.DefaultEventBurst),
		"realtime.WithParser":          "`JSONParser`", // the zero Parser, which New keeps
		"realtime.WithPresenceEvents":  fmt.Sprintf("`%s`, `%s`, `%s`", realtime.DefaultPresenceState, realtime.DefaultPresenceDiff, realtime.DefaultPresenceUpdate),
		"transport.WithPingInterval":   transport.DefaultPingInterval.String(),
		"transport.WithPingTimeout":    transport.DefaultPingTimeout.String(),
		"transport.WithUpgradeTimeout": transport.DefaultUpgradeTimeout.String(),
		"transport.WithWriteTimeout":   transport.DefaultWriteTimeout.String(),
		"transport.WithMaxPayload":     thousands(transport.DefaultMaxPayload) + " bytes",
		"transport.WithSendQueue":      fmt.Sprintf("%d packets, %d MiB", transport.DefaultQueueFrames, transport.DefaultQueueBytes>>20),
	}
	got := make(map[string]string)
	for _, r := range rt {
		got["realtime."+r.name] = r.defaults
	}
	for _, r := range tr {
		got["transport."+r.name] = r.defaults
	}
	assert.Equal(t, realtime.JSONParser, realtime.Parser(0), "the default parser")
	for name, def := range want {
		assert.Equal(t, def, got[name], "default of %s", name)
	}
}
