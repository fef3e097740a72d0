package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	r := runEnv(t, cleanEnv(t), "", "--version")
	if r.code != 0 || !strings.Contains(r.stdout, "0.1.0-dev") {
		t.Fatalf("arbor --version: %v", r)
	}
}

func TestCreateGetSetDelete(t *testing.T) {
	t.Parallel()
	addr := member(t)
	if got := ok(t, addr, "create", "/a", "hello"); got != "/a\n" {
		t.Errorf("create printed %q, want %q", got, "/a\n")
	}
	if got := ok(t, addr, "get", "/a"); got != "hello" {
		t.Errorf("get printed %q, want the data as is", got)
	}
	ok(t, addr, "set", "/a", "two words")
	if got := ok(t, addr, "get", "/a"); got != "two words" {
		t.Errorf("get after set printed %q", got)
	}
	ok(t, addr, "set", "/a", "v2", "--version", "1")
	got := ok(t, addr, "get", "/a", "--stat")
	if !strings.HasPrefix(got, "v2\nczxid = ") || !strings.Contains(got, "\nversion = 2\n") {
		t.Errorf("get --stat printed %q", got)
	}
	ok(t, addr, "set", "/a", "--", "-1") // DATA that looks like a flag
	if got := ok(t, addr, "get", "/a"); got != "-1" {
		t.Errorf("get after set -- -1 printed %q", got)
	}
	ok(t, addr, "create", "/empty")
	if got := ok(t, addr, "get", "/empty"); got != "" {
		t.Errorf("get of a node created without DATA printed %q", got)
	}
	ok(t, addr, "delete", "/a", "--version", "3")
	ok(t, addr, "delete", "/empty")
	fails(t, addr, 1, "arbor: get /a: NoNode", "get", "/a")
	ok(t, addr, "sync", "/")
}

func TestServersFromEnv(t *testing.T) {
	t.Parallel()
	addr := member(t)
	r := runEnv(t, cleanEnv(t, "ARBOR_SERVERS="+addr), "", "create", "/env")
	if r.code != 0 || r.stdout != "/env\n" {
		t.Errorf("create with ARBOR_SERVERS set: %v", r)
	}
	// --servers wins over ARBOR_SERVERS.
	r = runEnv(t, cleanEnv(t, "ARBOR_SERVERS="+freeAddr(t)), "", "--servers", addr, "get", "/env")
	if r.code != 0 {
		t.Errorf("get with --servers and a wrong ARBOR_SERVERS: %v", r)
	}
}

func TestOperationErrors(t *testing.T) {
	t.Parallel()
	addr := member(t)
	ok(t, addr, "create", "/p", "x")
	ok(t, addr, "create", "/p/c")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "/nope"}, "arbor: get /nope: NoNode"},
		{[]string{"stat", "/nope"}, "arbor: stat /nope: NoNode"},
		{[]string{"ls", "/nope"}, "arbor: ls /nope: NoNode"},
		{[]string{"ls", "-R", "/nope"}, "arbor: ls /nope: NoNode"},
		{[]string{"tree", "/nope"}, "arbor: tree /nope: NoNode"},
		{[]string{"set", "/nope", "x"}, "arbor: set /nope: NoNode"},
		{[]string{"delete", "/nope"}, "arbor: delete /nope: NoNode"},
		{[]string{"delete", "-r", "/nope"}, "arbor: delete /nope: NoNode"},
		{[]string{"create", "/nope/child"}, "arbor: create /nope/child: NoNode"},
		{[]string{"create", "/p"}, "arbor: create /p: NodeExists"},
		{[]string{"set", "/p", "y", "--version", "5"}, "arbor: set /p: BadVersion"},
		{[]string{"delete", "/p/c", "--version", "5"}, "arbor: delete /p/c: BadVersion"},
		{[]string{"delete", "/p"}, "arbor: delete /p: NotEmpty"},
	} {
		fails(t, addr, 1, tc.want, tc.args...)
	}
	// Nothing changed.
	if got := ok(t, addr, "get", "/p"); got != "x" {
		t.Errorf("get /p = %q after the failures", got)
	}
}

func TestConnectError(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t) // nothing listens there
	r := arborAt(t, addr, "", "--timeout", "300ms", "get", "/a")
	want := "arbor: connect " + addr + ": timed out (see --timeout)\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("get against no member: %v; want exit 1, stderr %q", r, want)
	}
}

// TestUsageErrors checks that bad command lines are refused before
// connecting: the member address is one where nothing listens, so a
// command that connected would fail with exit 1 instead.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	for _, tc := range []struct {
		args []string
		want string // in the one stderr line
	}{
		{[]string{"get", "x"}, `get: invalid path "x": must start with /`},
		{[]string{"get", "/a/"}, `get: invalid path "/a/"`},
		{[]string{"create", "a", "x"}, `create: invalid path "a"`},
		{[]string{"get"}, "get: want PATH, got 0 argument(s)"},
		{[]string{"get", "/a", "/b"}, "get: want PATH, got 2 argument(s)"},
		{[]string{"set", "/a"}, "set: want PATH DATA, got 1 argument(s)"},
		{[]string{"create", "/t", "--ttl", "1s", "--ephemeral"}, "--ttl applies to persistent nodes only"},
		{[]string{"create", "/t", "--ttl", "1s", "--container"}, "--ttl applies to persistent nodes only"},
		{[]string{"create", "/t", "--ttl", "0s"}, "--ttl 0s: want a positive duration"},
		{[]string{"create", "/c", "--container", "--ephemeral"}, "--container cannot be combined with --ephemeral"},
		{[]string{"create", "/c", "--container", "--sequential"}, "--container cannot be combined with --sequential"},
		{[]string{"set", "/a", "x", "--version", "abc"}, `set: invalid value "abc" for flag -version`},
		{[]string{"set", "/a", "x", "--version", "-2"}, "set: --version -2: want -1 (any)"},
		{[]string{"delete", "/a", "--version", "9999999999"}, "delete: --version 9999999999"},
		{[]string{"delete", "/a", "--recursive", "--version", "1"}, "--version cannot be combined with --recursive"},
		{[]string{"watch", "/a", "--count", "-1"}, "watch: --count -1"},
		{[]string{"--output", "yaml", "get", "/a"}, `--output "yaml": want text or json`},
		{[]string{"--timeout", "0s", "get", "/a"}, "--timeout 0s: want a positive duration"},
		{[]string{"get", "--nope", "/a"}, "get: flag provided but not defined"},
		{[]string{"frobnicate", "/a"}, `unknown command "frobnicate"`},
		{[]string{"--servers", ",", "get", "/a"}, `--servers ",": want HOST:PORT`},
	} {
		r := arborAt(t, addr, "", tc.args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "arbor: ") || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("arbor %q: %v; want exit 2 and one stderr line with %q", tc.args, r, tc.want)
		}
	}
}

func TestDataFromStdin(t *testing.T) {
	t.Parallel()
	addr := member(t)
	data := "line one\nline two\n\x00binary\n"
	if r := arborAt(t, addr, data, "create", "/d", "-"); r.code != 0 || r.stdout != "/d\n" {
		t.Fatalf("create /d - : %v", r)
	}
	if got := ok(t, addr, "get", "/d"); got != data {
		t.Errorf("get /d = %q, want %q", got, data)
	}
	if r := arborAt(t, addr, "replaced", "set", "/d", "-"); r.code != 0 {
		t.Fatalf("set /d - : %v", r)
	}
	if got := ok(t, addr, "get", "/d"); got != "replaced" {
		t.Errorf("get /d = %q after set from stdin", got)
	}
	// Binary data is base64 in JSON.
	var doc struct {
		DataBase64 []byte `json:"data_base64"`
	}
	if err := json.Unmarshal([]byte(ok(t, addr, "-o", "json", "get", "/d")), &doc); err != nil {
		t.Fatal(err)
	}
	ok(t, addr, "set", "/d", "\xff\xfe")
	if err := json.Unmarshal([]byte(ok(t, addr, "-o", "json", "get", "/d")), &doc); err != nil || string(doc.DataBase64) != "\xff\xfe" {
		t.Errorf("get -o json of binary data: %q, %v", doc.DataBase64, err)
	}
}

func TestCreateModes(t *testing.T) {
	t.Parallel()
	addr := member(t)
	ok(t, addr, "create", "/q")
	seq := regexp.MustCompile(`^/q/item-\d{10}\n$`)
	first := ok(t, addr, "create", "/q/item-", "--sequential")
	second := ok(t, addr, "create", "-s", "/q/item-")
	if !seq.MatchString(first) || !seq.MatchString(second) || first >= second {
		t.Errorf("sequential creates printed %q then %q", first, second)
	}
	if got := ok(t, addr, "create", "/x/y/z", "deep", "--parents"); got != "/x/y/z\n" {
		t.Errorf("create --parents printed %q", got)
	}
	if got := ok(t, addr, "ls", "/x"); got != "y\n" {
		t.Errorf("ls /x = %q after create --parents", got)
	}
	ok(t, addr, "create", "/box", "--container")
	ok(t, addr, "create", "/ttl", "--ttl", "1h")
	ok(t, addr, "create", "/q/t-", "--ttl", "1h", "--sequential")
	// An ephemeral created by a one-shot command is gone when it returns:
	// the command closes its session.
	if got := ok(t, addr, "create", "/eph", "x", "--ephemeral"); got != "/eph\n" {
		t.Errorf("create --ephemeral printed %q", got)
	}
	fails(t, addr, 1, "arbor: get /eph: NoNode", "get", "/eph")
	got := ok(t, addr, "create", "-e", "-s", "/q/e-")
	if !strings.HasPrefix(got, "/q/e-") {
		t.Errorf("create -e -s printed %q", got)
	}
	fails(t, addr, 1, "arbor: stat "+strings.TrimSpace(got)+": NoNode", "stat", strings.TrimSpace(got))
}

func TestLsTreeStat(t *testing.T) {
	t.Parallel()
	addr := member(t)
	for _, p := range []string{"/t", "/t/b", "/t/a", "/t/a/y", "/t/a/x", "/t/c", "/t/a/x/deep"} {
		ok(t, addr, "create", p)
	}
	if got, want := ok(t, addr, "ls", "/t"), "a\nb\nc\n"; got != want {
		t.Errorf("ls /t = %q, want %q", got, want)
	}
	if got := ok(t, addr, "ls", "/t/b"); got != "" {
		t.Errorf("ls of a leaf = %q", got)
	}
	if got, want := ok(t, addr, "ls", "--recursive", "/t"), "/t/a\n/t/a/x\n/t/a/x/deep\n/t/a/y\n/t/b\n/t/c\n"; got != want {
		t.Errorf("ls -R /t = %q, want %q", got, want)
	}
	if got, want := ok(t, addr, "tree", "/t"), "/t\n  a\n    x\n      deep\n    y\n  b\n  c\n"; got != want {
		t.Errorf("tree /t = %q, want %q", got, want)
	}
	got := ok(t, addr, "ls", "/t", "--stat")
	if !strings.HasPrefix(got, "a\nb\nc\nczxid = ") || !strings.Contains(got, "\nnum_children = 3\n") {
		t.Errorf("ls --stat = %q", got)
	}
	stat := ok(t, addr, "stat", "/t/a")
	keys := regexp.MustCompile(`(?m)^(\w+) = (.*)$`).FindAllStringSubmatch(stat, -1)
	var names []string
	fields := map[string]string{}
	for _, k := range keys {
		names = append(names, k[1])
		fields[k[1]] = k[2]
	}
	wantNames := "czxid mzxid ctime mtime version cversion aversion ephemeral_owner data_length num_children pzxid"
	if strings.Join(names, " ") != wantNames || strings.Count(stat, "\n") != 11 {
		t.Errorf("stat printed %q; want the fields %s, one a line", stat, wantNames)
	}
	if fields["num_children"] != "2" || fields["ephemeral_owner"] != "0x0" || fields["version"] != "0" {
		t.Errorf("stat fields %v", fields)
	}
	if _, err := time.Parse(time.RFC3339, fields["ctime"]); err != nil {
		t.Errorf("ctime %q is not RFC 3339: %v", fields["ctime"], err)
	}
}

func TestDeleteRecursive(t *testing.T) {
	t.Parallel()
	addr := member(t)
	for _, p := range []string{"/keep", "/r", "/r/a", "/r/a/b", "/r/a/b/c", "/r/d"} {
		ok(t, addr, "create", p)
	}
	ok(t, addr, "delete", "/r", "--recursive")
	fails(t, addr, 1, "arbor: stat /r: NoNode", "stat", "/r")
	if got := ok(t, addr, "ls", "/"); got != "arbor\nkeep\n" {
		t.Errorf("ls / = %q after delete -r /r, want the reserved /arbor and /keep", got)
	}
	// Of the root: everything but the root and the reserved subtree.
	ok(t, addr, "delete", "-r", "/")
	if got := ok(t, addr, "ls", "/"); got != "arbor\n" {
		t.Errorf("ls / = %q after delete -r /, want the reserved /arbor only", got)
	}
}

// statKeys are the JSON keys of a Stat, the protocol's field names.
var statKeys = []string{"czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeral_owner", "data_length", "num_children", "pzxid"}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	addr := member(t)
	decode := func(args ...string) map[string]any {
		t.Helper()
		out := ok(t, addr, append([]string{"--output", "json"}, args...)...)
		if strings.Count(out, "\n") != 1 {
			t.Errorf("arbor -o json %q printed %q, want one JSON document on one line", args, out)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("arbor -o json %q printed %q: %v", args, out, err)
		}
		return doc
	}
	checkStat := func(what string, v any) map[string]any {
		t.Helper()
		st, _ := v.(map[string]any)
		for _, k := range statKeys {
			if _, ok := st[k]; !ok {
				t.Errorf("%s: stat %v lacks %q", what, st, k)
			}
		}
		if len(st) != len(statKeys) {
			t.Errorf("%s: stat has %d keys, want %d: %v", what, len(st), len(statKeys), st)
		}
		for _, k := range []string{"ctime", "mtime"} {
			if s, _ := st[k].(string); s == "" {
				t.Errorf("%s: %s %v is not a string", what, k, st[k])
			} else if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("%s: %s: %v", what, k, err)
			}
		}
		return st
	}

	if doc := decode("create", "/j", "hi"); doc["path"] != "/j" {
		t.Errorf("create: %v", doc)
	}
	ok(t, addr, "create", "/j/k")
	doc := decode("get", "/j")
	if doc["path"] != "/j" || doc["data"] != "hi" {
		t.Errorf("get: %v", doc)
	}
	if st := checkStat("get", doc["stat"]); st["data_length"] != 2.0 || st["num_children"] != 1.0 {
		t.Errorf("get: stat %v", st)
	}
	doc = decode("set", "/j", "new")
	if st := checkStat("set", doc["stat"]); doc["path"] != "/j" || st["version"] != 1.0 {
		t.Errorf("set: %v", doc)
	}
	checkStat("stat", decode("stat", "/j")["stat"])
	doc = decode("ls", "/j")
	if fmt.Sprint(doc["children"]) != "[k]" || doc["stat"] != nil {
		t.Errorf("ls: %v", doc)
	}
	doc = decode("ls", "/j/k")
	if fmt.Sprint(doc["children"]) != "[]" {
		t.Errorf("ls of a leaf: %v", doc)
	}
	checkStat("ls --stat", decode("ls", "--stat", "/j")["stat"])
	if doc := decode("ls", "-R", "/j"); fmt.Sprint(doc["descendants"]) != "[/j/k]" {
		t.Errorf("ls -R: %v", doc)
	}
	if doc := decode("tree", "/j"); fmt.Sprint(doc) != "map[children:[map[children:[] path:/j/k]] path:/j]" {
		t.Errorf("tree: %v", doc)
	}
	if doc := decode("sync", "/j"); doc["path"] != "/j" {
		t.Errorf("sync: %v", doc)
	}
	if doc := decode("delete", "-r", "/j"); doc["path"] != "/j" {
		t.Errorf("delete: %v", doc)
	}
}

// TestWatch runs watch --count N while another process makes changes,
// until the watch has seen N events and exited.
func TestWatch(t *testing.T) {
	t.Parallel()
	addr := member(t)
	ok(t, addr, "create", "/w")
	line := regexp.MustCompile(`^(\w+) (\S+) (\d+)$`)

	// Recursive: a create under /w is NodeCreated of the child.
	w := background(t, cleanEnv(t), "--servers", addr, "watch", "--recursive", "--count", "3", "/w")
	for i := 0; !w.exited() && i < 100; i++ {
		ok(t, addr, "create", fmt.Sprintf("/w/n%02d", i))
		time.Sleep(20 * time.Millisecond)
	}
	if code := w.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("watch exited %d: stderr %q", code, w.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(w.stdout.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("watch --count 3 printed %q", w.stdout.String())
	}
	var last uint64
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil || m[1] != "NodeCreated" || !strings.HasPrefix(m[2], "/w/n") {
			t.Fatalf("watch printed %q, want NodeCreated /w/nNN ZXID", l)
		}
		zxid, _ := strconv.ParseUint(m[3], 10, 64)
		if zxid <= last {
			t.Errorf("zxids not increasing: %q", lines)
		}
		last = zxid
	}

	// Not recursive, JSON: a change of /w's data.
	w = background(t, cleanEnv(t), "--servers", addr, "-o", "json", "watch", "/w", "--count", "1")
	for i := 0; !w.exited() && i < 100; i++ {
		ok(t, addr, "set", "/w", strconv.Itoa(i))
		time.Sleep(20 * time.Millisecond)
	}
	if code := w.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("watch exited %d: stderr %q", code, w.stderr.String())
	}
	var ev struct {
		Type, Path string
		Zxid       uint64
	}
	if err := json.Unmarshal([]byte(w.stdout.String()), &ev); err != nil || ev.Type != "NodeDataChanged" || ev.Path != "/w" || ev.Zxid <= last {
		t.Errorf("watch -o json printed %q (%v)", w.stdout.String(), err)
	}
}

func TestShellScript(t *testing.T) {
	t.Parallel()
	addr := member(t)
	script := strings.Join([]string{
		"create /sh hi",
		"# a comment, and a blank line",
		"",
		`create -e /sh/eph "two words"`,
		"create /sh/seq- --sequential",
		"ls /sh",
		"get /sh/eph",
		"get /nope",
		"-o json get /sh",
		"shell",
		"set /sh 'it''s' --version 0",
		"get /sh",
		"exit",
		"get /sh", // not run
	}, "\n") + "\n"
	r := arborAt(t, addr, script, "shell")
	want := "/sh\n/sh/eph\n/sh/seq-0000000001\neph\nseq-0000000001\ntwo words\n" +
		`{"path":"/sh","data":"hi",` // then the stat
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) || !strings.HasSuffix(r.stdout, "}\nits\n") {
		t.Errorf("shell: %v\nwant stdout %q...%q", r, want, "}\nits\n")
	}
	if wantErr := "arbor: get /nope: NoNode\narbor: shell: not available in the shell\n"; r.stderr != wantErr {
		t.Errorf("shell stderr %q, want %q", r.stderr, wantErr)
	}
	// The shell's one session lived until it exited, and then its
	// ephemeral went with it.
	fails(t, addr, 1, "arbor: get /sh/eph: NoNode", "get", "/sh/eph")

	// Without exit, the shell ends at the end of its input, with the
	// status of the last command.
	r = arborAt(t, addr, "get /sh\nget /gone\n", "shell")
	if r.code != 1 || r.stdout != "its\n" || r.stderr != "arbor: get /gone: NoNode\n" {
		t.Errorf("shell ending on a failure: %v", r)
	}
	// A usage error in the shell is one line, and the shell goes on.
	r = arborAt(t, addr, "get x\nhelp\n", "shell")
	if r.code != 0 || !strings.Contains(r.stdout, "COMMANDS:") || !strings.Contains(r.stderr, `get: invalid path "x"`) {
		t.Errorf("shell with a usage error, then help: %v", r)
	}
}
