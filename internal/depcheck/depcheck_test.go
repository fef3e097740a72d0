package depcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The rules. Package paths are relative to the module ("tree",
// "server/raftnode"); "x/..." means x and every package below it. In
// importedOnlyBy.target, a path whose first element contains a dot
// ("go.etcd.io/raft/...") is a full import path from outside arbor.
//
// A new edge is a design question (DESIGN.md): raise it in the issue note,
// then add its line here.

// houseRules are the import rules of DESIGN.md.
var houseRules = rules{
	// A package matching from may import, of arbor's packages, only those
	// matching allow and those in its own subtree. Imports from outside
	// arbor are not limited by this table.
	onlyImports: []onlyRule{
		// tree takes its key prefix from internal/storage, which records
		// which package owns which part of the one Pebble keyspace, and
		// checks a command's bytes with internal/protoscan before decoding.
		{from: "tree/...", allow: []string{"internal/zpath", "internal/errcode", "internal/storage", "internal/protoscan"}},
		{from: "internal/storage/...", allow: nil},
		{from: "session/...", allow: []string{"internal/zpath", "internal/errcode"}},
		{from: "watch/...", allow: []string{"internal/zpath", "internal/errcode"}},
		{from: "internal/zpath/...", allow: []string{"internal/errcode"}},
		{from: "internal/errcode/...", allow: nil},
		// The strict protobuf scanner shared by the decoders of tree and
		// wire: a leaf, so that neither reaches anything through it.
		{from: "internal/protoscan/...", allow: nil},
		// The load generator of arbor bench and bench/cmd/cmpbench knows
		// nothing of arbor, so that it measures ZooKeeper and etcd alike.
		{from: "internal/loadgen/...", allow: nil},
		{from: "internal/freeport/...", allow: nil},
		// The GC tuner of arbor server knows nothing of arbor.
		{from: "internal/gctune/...", allow: nil},
		// The Raft log's segment files know nothing of Raft or of arbor:
		// records in, records out.
		{from: "server/raftlog/wal/...", allow: nil},
		// The client imports wire, so wire may reach no further than the
		// client, but for internal/protoscan: a leaf that wire's decoders
		// run, which gives the client nothing to reach.
		{from: "internal/wire/...", allow: []string{"internal/zpath", "internal/errcode", "internal/protoscan"}},
		{from: "client/...", allow: []string{"internal/wire", "internal/zpath", "internal/errcode"}},
		{from: "recipes/...", allow: []string{"client", "internal/errcode"}},
		// Black-box: only what any user of arbor has. The recipes are built
		// on client alone, and issue 5 runs the lock recipe as a workload.
		// internal/freeport only picks the members' loopback ports.
		{from: "conformance/...", allow: []string{"client", "recipes/...", "internal/freeport"}},
	},
	// A package matching target may be imported only by arbor packages
	// matching one of by.
	importedOnlyBy: []byRule{
		{target: "go.etcd.io/raft/...", by: []string{"server/raftnode/...", "server/raftlog/...", "server/transport/..."}},
		{target: "server/...", by: []string{"server/...", "cmd/..."}},
		// Main packages cannot be imported at all; this keeps the
		// packages under cmd/ private to the binary.
		{target: "cmd/...", by: []string{"cmd/..."}},
	},
	// Edges allowed in _test.go files only, overriding both tables above.
	testOnly: []edgeRule{
		// The client's runnable examples start a member in-process.
		{from: "client", to: "server"},
		// The recipes' tests and examples run against members started
		// in-process (server/servertest), one or a cluster of three.
		{from: "recipes/...", to: "server/..."},
	},
}

// purePackages are driven by one owner goroutine in server: they start no
// goroutines and read no clock (STYLE.md, habit 1). Their non-test files
// are checked against bannedImports and bannedFuncs.
var purePackages = []string{"tree/...", "session/...", "watch/...", "internal/zpath/...", "internal/errcode/...", "internal/protoscan/..."}

// bannedImports are full import paths ("x/..." as above) that non-test
// files of the pure packages may not import, with the reason.
var bannedImports = []banned{
	{"math/rand", "random numbers make apply non-deterministic; carry them in the command"},
	{"math/rand/v2", "random numbers make apply non-deterministic; carry them in the command"},
	{"crypto/rand", "random numbers make apply non-deterministic; carry them in the command"},
	{"net/...", "a pure package does no network I/O"},
	{"github.com/gorilla/websocket/...", "a pure package does no network I/O"},
}

// bannedFuncs are package-level functions ("importpath.Name") that non-test
// files of the pure packages may not refer to, with the reason.
var bannedFuncs = []banned{
	{"time.Now", "reads the clock; the leader stamps the time into the command"},
	{"time.Since", "reads the clock; the leader stamps the time into the command"},
	{"time.Until", "reads the clock; the leader stamps the time into the command"},
	{"time.Sleep", "waits on the clock; the owner in server does the waiting"},
	{"time.After", "arms a timer; the owner in server does the waiting"},
	{"time.AfterFunc", "arms a timer and starts a goroutine"},
	{"time.Tick", "arms a timer; the owner in server does the waiting"},
	{"time.NewTimer", "arms a timer; the owner in server does the waiting"},
	{"time.NewTicker", "arms a timer; the owner in server does the waiting"},
}

type rules struct {
	onlyImports    []onlyRule
	importedOnlyBy []byRule
	testOnly       []edgeRule
}

type onlyRule struct {
	from  string
	allow []string
}

type byRule struct {
	target string
	by     []string
}

type edgeRule struct {
	from, to string
}

type banned struct {
	what, why string
}

// pkg is the part of `go list -json` that the checks read.
type pkg struct {
	ImportPath   string
	Dir          string
	Imports      []string
	TestImports  []string
	XTestImports []string
	// Files the default build leaves out (other platforms, build tags):
	// their imports are read from source and checked too.
	IgnoredGoFiles []string
	Module         *struct{ Path string }
	Error          *struct{ Err string }
}

func TestImportGraph(t *testing.T) {
	mod, pkgs := loadModule(t)
	for _, v := range checkImports(mod, pkgs, houseRules) {
		t.Error(v)
	}
	t.Logf("checked the imports of %d packages", len(pkgs))
}

func TestPurePackages(t *testing.T) {
	mod, pkgs := loadModule(t)
	root := moduleRoot(t)
	var nPkgs, nFiles int
	for _, p := range pkgs {
		rel, _ := relTo(mod, p.ImportPath)
		if !matchAny(purePackages, rel) {
			continue
		}
		nPkgs++
		// Every non-test file, whatever its build constraints: a file
		// behind a tag is still code that can run.
		names, err := filepath.Glob(filepath.Join(p.Dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			nFiles++
			fset := token.NewFileSet()
			shown, err := filepath.Rel(root, name)
			if err != nil {
				shown = name
			}
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, shown, src, 0)
			if err != nil {
				t.Errorf("parse: %v", err)
				continue
			}
			for _, v := range checkSource(fset, f) {
				t.Error(v)
			}
		}
	}
	if nPkgs == 0 {
		t.Fatalf("no pure package found among %d packages; is the table out of date?", len(pkgs))
	}
	t.Logf("checked %d files in %d pure packages", nFiles, nPkgs)
}

// loadModule lists the module's packages with `go list`, run from the module
// root so the test does not depend on the directory it runs in.
func loadModule(t *testing.T) (mod string, pkgs []pkg) {
	t.Helper()
	cmd := exec.Command("go", "list", "-e",
		"-json=ImportPath,Dir,Imports,TestImports,XTestImports,IgnoredGoFiles,Module,Error", "./...")
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module == nil {
			t.Fatalf("%s: go list reports no module", p.ImportPath)
		}
		mod = p.Module.Path
		addIgnoredImports(t, &p)
		pkgs = append(pkgs, p)
	}
	// Guard against a check that passes because it saw nothing.
	var self bool
	for _, p := range pkgs {
		self = self || p.ImportPath == mod+"/internal/depcheck"
	}
	if !self {
		t.Fatalf("go list did not list internal/depcheck (module %q, %d packages)", mod, len(pkgs))
	}
	return mod, pkgs
}

// addIgnoredImports adds the imports of p's files that the default build
// leaves out, so that a file behind a build tag or for another platform
// cannot hide an edge.
func addIgnoredImports(t *testing.T, p *pkg) {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range p.IgnoredGoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Errorf("%s: %v", p.ImportPath, err)
			continue
		}
		for _, spec := range f.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				t.Errorf("%s: %v", fset.Position(spec.Pos()), err)
				continue
			}
			if strings.HasSuffix(name, "_test.go") {
				p.TestImports = append(p.TestImports, path)
			} else {
				p.Imports = append(p.Imports, path)
			}
		}
	}
}

// moduleRoot walks up from the test's directory to the one holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// checkImports returns one line per import in pkgs that r forbids, sorted.
// mod is the module path.
func checkImports(mod string, pkgs []pkg, r rules) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := relTo(mod, p.ImportPath)
		if !ok {
			continue
		}
		// Every imported path, and whether only tests import it.
		testOnly := map[string]bool{}
		for _, imp := range p.Imports {
			testOnly[imp] = false
		}
		for _, imp := range slices.Concat(p.TestImports, p.XTestImports) {
			if _, seen := testOnly[imp]; !seen {
				testOnly[imp] = true
			}
		}
		for _, imp := range sortedKeys(testOnly) {
			if imp == p.ImportPath { // the external test package imports its package
				continue
			}
			to, toArbor := relTo(mod, imp)
			shown, where := imp, ""
			if toArbor {
				shown = to
			}
			if testOnly[imp] {
				where = " (in tests)"
				if allowedInTests(mod, r.testOnly, from, imp) {
					continue
				}
			}
			for _, o := range r.onlyImports {
				if !match(o.from, from) || !toArbor || match(subtree(o.from), to) || matchAny(o.allow, to) {
					continue
				}
				out = append(out, fmt.Sprintf("%s imports %s%s: %s may import only %s of arbor's packages (and its own subtree)",
					from, shown, where, o.from, listOr(o.allow, "none")))
			}
			for _, b := range r.importedOnlyBy {
				if !match(resolve(mod, b.target), imp) || matchAny(b.by, from) {
					continue
				}
				out = append(out, fmt.Sprintf("%s imports %s%s: %s may be imported only by %s",
					from, shown, where, b.target, listOr(b.by, "nothing")))
			}
		}
	}
	slices.Sort(out)
	return out
}

func allowedInTests(mod string, edges []edgeRule, from, imp string) bool {
	for _, e := range edges {
		if match(e.from, from) && match(resolve(mod, e.to), imp) {
			return true
		}
	}
	return false
}

// checkSource returns one line per use of a banned import, a banned
// function or a go statement in f.
func checkSource(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(pos token.Pos, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s: %s", fset.Position(pos), fmt.Sprintf(format, args...)))
	}
	// The file's local names of the packages that have banned functions.
	local := map[string]string{}
	for _, spec := range f.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			report(spec.Pos(), "bad import path %s", spec.Path.Value)
			continue
		}
		for _, b := range bannedImports {
			if match(b.what, path) {
				report(spec.Pos(), "imports %s: %s", path, b.why)
			}
		}
		if !hasBannedFuncs(path) {
			continue
		}
		name := defaultName(path)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		if name == "." {
			report(spec.Pos(), "dot-imports %s: write %s.X so that the bans on its functions can see it", path, defaultName(path))
			continue
		}
		local[name] = path
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(n.Pos(), "starts a goroutine: a pure package is driven by its owner's goroutine")
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			// id.Obj is set when a local declaration shadows the import.
			if !ok || id.Obj != nil {
				return true
			}
			path, ok := local[id.Name]
			if !ok {
				return true
			}
			what := path + "." + n.Sel.Name
			for _, b := range bannedFuncs {
				if b.what == what {
					report(n.Pos(), "uses %s: %s", what, b.why)
				}
			}
		}
		return true
	})
	return out
}

func hasBannedFuncs(path string) bool {
	for _, b := range bannedFuncs {
		if strings.HasPrefix(b.what, path+".") && !strings.Contains(b.what[len(path)+1:], "/") {
			return true
		}
	}
	return false
}

// defaultName is the name a package is known by when imported without one:
// the last element of its path, skipping a major-version suffix.
func defaultName(path string) string {
	elems := strings.Split(path, "/")
	last := elems[len(elems)-1]
	if len(elems) > 1 && len(last) > 1 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		last = elems[len(elems)-2]
	}
	return last
}

// relTo returns path relative to module mod ("." for the module's root
// package), and whether it is in mod at all.
func relTo(mod, path string) (string, bool) {
	if path == mod {
		return ".", true
	}
	if rest, ok := strings.CutPrefix(path, mod+"/"); ok {
		return rest, true
	}
	return path, false
}

// resolve turns a table pattern into a full import-path pattern: arbor's
// paths are written relative to the module, others in full.
func resolve(mod, pattern string) string {
	first, _, _ := strings.Cut(pattern, "/")
	if strings.Contains(first, ".") {
		return pattern
	}
	return mod + "/" + pattern
}

// match reports whether path matches pattern: "x/..." matches x and every
// path below it; any other pattern only itself.
func match(pattern, path string) bool {
	if root, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == root || strings.HasPrefix(path, root+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

func subtree(pattern string) string {
	return strings.TrimSuffix(pattern, "/...") + "/..."
}

func listOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type importCase struct {
	name  string
	pkgs  []pkg
	rules rules
	want  []string // substrings, one per violation expected, in order
}

// TestImportRulesCanFail feeds made-up import graphs to checkImports, so
// that every rule is seen to fail as well as to pass.
func TestImportRulesCanFail(t *testing.T) {
	const mod = "example.com/arbor"
	p := func(path string, imports ...string) pkg {
		return pkg{ImportPath: resolve(mod, path), Imports: resolveAll(mod, imports)}
	}
	withTests := func(q pkg, testImports ...string) pkg {
		q.XTestImports = resolveAll(mod, testImports)
		return q
	}
	tests := []importCase{
		{"tree reaches the shared internals", []pkg{p("tree", "internal/zpath", "internal/errcode", "tree/internal/keys", "github.com/cockroachdb/pebble/v2")}, houseRules, nil},
		{"a subpackage imports its parent", []pkg{p("tree/internal/keys", "tree", "internal/zpath")}, houseRules, nil},
		{"tree imports session", []pkg{p("tree", "session")}, houseRules, []string{"tree imports session: tree/... may import only"}},
		{"session imports watch in tests", []pkg{withTests(p("session"), "watch")}, houseRules, []string{"session imports watch (in tests)"}},
		{"watch imports tree", []pkg{p("watch", "tree")}, houseRules, []string{"watch imports tree"}},
		{"a subpackage of tree imports watch", []pkg{p("tree/internal/keys", "watch")}, houseRules, []string{"tree/internal/keys imports watch"}},
		{"zpath imports tree", []pkg{p("internal/zpath", "tree")}, houseRules, []string{"internal/zpath imports tree"}},
		{"errcode imports zpath", []pkg{p("internal/errcode", "internal/zpath")}, houseRules, []string{"internal/errcode/... may import only none"}},
		{"the raft owners import raft", []pkg{
			p("server/raftnode", "go.etcd.io/raft/v3", "go.etcd.io/raft/v3/raftpb"),
			p("server/raftlog", "go.etcd.io/raft/v3/raftpb"),
			p("server/transport/mem", "go.etcd.io/raft/v3/raftpb"),
		}, houseRules, nil},
		{"tree imports raft", []pkg{p("tree", "go.etcd.io/raft/v3")}, houseRules, []string{"tree imports go.etcd.io/raft/v3: go.etcd.io/raft/... may be imported only by"}},
		{"server imports raftpb", []pkg{p("server", "go.etcd.io/raft/v3/raftpb", "server/raftnode", "tree", "session", "watch")}, houseRules, []string{"server imports go.etcd.io/raft/v3/raftpb"}},
		{"client reaches wire, zpath, errcode", []pkg{p("client", "internal/wire", "internal/zpath", "internal/errcode", "github.com/gorilla/websocket")}, houseRules, nil},
		{"client imports tree", []pkg{p("client", "tree")}, houseRules, []string{"client imports tree: client/... may import only"}},
		{"client tests import servertest", []pkg{withTests(p("client"), "server/servertest")}, houseRules, []string{
			"client imports server/servertest (in tests): client/... may import only",
			"client imports server/servertest (in tests): server/... may be imported only by",
		}},
		{"wire imports tree", []pkg{p("internal/wire", "tree")}, houseRules, []string{"internal/wire imports tree"}},
		{"recipes reach client", []pkg{p("recipes", "client", "internal/errcode"), p("recipes/ring", "recipes", "client")}, houseRules, nil},
		{"recipes import wire", []pkg{p("recipes", "internal/wire")}, houseRules, []string{"recipes imports internal/wire"}},
		{"conformance uses the public client", []pkg{withTests(p("conformance"), "client", "recipes", "conformance/proxy")}, houseRules, nil},
		{"conformance tests import wire", []pkg{withTests(p("conformance"), "internal/wire")}, houseRules, []string{"conformance imports internal/wire (in tests)"}},
		{"conformance imports server", []pkg{p("conformance", "server/servertest")}, houseRules, []string{
			"conformance imports server/servertest: conformance/... may import only",
			"conformance imports server/servertest: server/... may be imported only by",
		}},
		{"cmd composes everything", []pkg{p("cmd/arbor", "server", "client", "recipes", "cmd/arbor/internal/shell")}, houseRules, nil},
		{"server imports cmd", []pkg{p("server/ws", "cmd/arbor/internal/shell")}, houseRules, []string{"server/ws imports cmd/arbor/internal/shell: cmd/... may be imported only by"}},
		{"a test-only edge allowed in tests", []pkg{withTests(p("client"), "server/servertest")},
			rules{houseRules.onlyImports, houseRules.importedOnlyBy, []edgeRule{{"client/...", "server/servertest"}}}, nil},
		{"a test-only edge outside tests", []pkg{p("client", "server/servertest")},
			rules{houseRules.onlyImports, houseRules.importedOnlyBy, []edgeRule{{"client/...", "server/servertest"}}}, []string{
				"client imports server/servertest: client/...",
				"client imports server/servertest: server/...",
			}},
	}
	// Every line of the tables, checked mechanically: each rule passes the
	// edges it allows and fails one it does not.
	for _, o := range houseRules.onlyImports {
		from := strings.TrimSuffix(o.from, "/...")
		var allowed []string
		for _, a := range o.allow {
			allowed = append(allowed, strings.TrimSuffix(a, "/..."))
		}
		tests = append(tests,
			importCase{"allowed by onlyImports " + o.from, []pkg{p(from, append(allowed, from+"/sub")...)}, houseRules, nil},
			importCase{"refused by onlyImports " + o.from, []pkg{p(from, "zz/forbidden")}, houseRules, []string{from + " imports zz/forbidden: " + o.from}},
		)
	}
	for _, b := range houseRules.importedOnlyBy {
		target := strings.TrimSuffix(b.target, "/...")
		var importers []pkg
		for _, by := range b.by {
			importers = append(importers, p(strings.TrimSuffix(by, "/..."), target))
		}
		tests = append(tests,
			importCase{"allowed by importedOnlyBy " + b.target, importers, houseRules, nil},
			importCase{"refused by importedOnlyBy " + b.target, []pkg{p("zz/outsider", target)}, houseRules, []string{"zz/outsider imports " + target + ": " + b.target}},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkImports(mod, tt.pkgs, tt.rules)
			if !matchesInOrder(got, tt.want) {
				t.Errorf("got %d violations:\n\t%s\nwant %d, containing in order:\n\t%s",
					len(got), strings.Join(got, "\n\t"), len(tt.want), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

type sourceCase struct {
	name string
	src  string // a file's text after its package clause
	want []string
}

// TestSourceRulesCanFail feeds made-up files to checkSource.
func TestSourceRulesCanFail(t *testing.T) {
	tests := []sourceCase{
		{"time.Now", `import "time"; func f() { _ = time.Now() }`, []string{"x.go:1:42: uses time.Now"}},
		{"time.Since", "import \"time\"\nvar t0 time.Time\nfunc f() time.Duration { return time.Since(t0) }", []string{"x.go:3:33: uses time.Since"}},
		{"a renamed import", `import clock "time"; func f() { _ = clock.Now() }`, []string{"uses time.Now"}},
		{"a reference without a call", `import "time"; var now = time.Now`, []string{"uses time.Now"}},
		{"timers", `import "time"; func f() { time.Sleep(1); <-time.After(1); time.NewTimer(1).Stop() }`, []string{"time.Sleep", "time.After", "time.NewTimer"}},
		{"a dot import", `import . "time"; func f() { _ = Now() }`, []string{"dot-imports time"}},
		{"math/rand", `import "math/rand"; func f() int { return rand.Int() }`, []string{"imports math/rand:"}},
		{"math/rand/v2", `import "math/rand/v2"; func f() int { return rand.Int() }`, []string{"imports math/rand/v2:"}},
		{"crypto/rand", `import "crypto/rand"; var r = rand.Reader`, []string{"imports crypto/rand:"}},
		{"net", `import "net"; var _ net.Conn`, []string{"imports net:"}},
		{"net/http", `import "net/http"; var _ http.Handler`, []string{"imports net/http:"}},
		{"websocket", `import "github.com/gorilla/websocket"; var _ websocket.Conn`, []string{"imports github.com/gorilla/websocket:"}},
		{"a go statement", `func f() { go f() }`, []string{"x.go:1:23: starts a goroutine"}},
		{"a go statement in a closure", `func f() { g := func() { go func() {}() }; g() }`, []string{"starts a goroutine"}},
		{"time as values", `import "time"; func f(d time.Duration) time.Time { return time.Unix(0, 0).Add(d) }`, nil},
		{"a local named time", `import "time"; func f(d time.Duration) { time := struct{ Now func() }{}; time.Now() }`, nil},
		{"another package's Now", `type clock struct{}; func (clock) Now() int { return 0 }; func f(c clock) int { return c.Now() }`, nil},
		{"hashing is fine", `import "crypto/sha256"; var _ = sha256.Sum256`, nil},
		{"words in comments and strings", "// go fmt; time.Now()\nvar s = \"go time.Now()\"", nil},
	}
	// Every line of the tables, checked mechanically.
	for _, b := range bannedImports {
		path := strings.TrimSuffix(b.what, "/...")
		tests = append(tests, sourceCase{"banned import " + b.what, fmt.Sprintf("import _ %q", path), []string{"imports " + path + ": "}})
	}
	for _, b := range bannedFuncs {
		dot := strings.LastIndex(b.what, ".")
		path, name := b.what[:dot], b.what[dot+1:]
		tests = append(tests, sourceCase{"banned func " + b.what, fmt.Sprintf("import %q; var _ = %s.%s", path, defaultName(path), name), []string{"uses " + b.what + ": "}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package x; "+tt.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := checkSource(fset, f)
			if !matchesInOrder(got, tt.want) {
				t.Errorf("got %d violations:\n\t%s\nwant %d, containing in order:\n\t%s",
					len(got), strings.Join(got, "\n\t"), len(tt.want), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func resolveAll(mod string, paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, resolve(mod, p))
	}
	return out
}

// matchesInOrder reports whether got has one line per want, each containing
// its want.
func matchesInOrder(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.Contains(got[i], want[i]) {
			return false
		}
	}
	return true
}
