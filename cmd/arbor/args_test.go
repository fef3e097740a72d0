package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
)

func TestInterspersed(t *testing.T) {
	app := newApp(&env{})
	for _, tc := range []struct{ in, want string }{
		{"arbor create /a x --ephemeral", "arbor create --ephemeral /a x"},
		{"arbor create /a --ttl 5s x -p", "arbor create --ttl 5s -p /a x"},
		{"arbor --servers h:1 -o json set /a x --version 3", "arbor --servers h:1 -o json set --version 3 /a x"},
		{"arbor set /a --version=3 x", "arbor set --version=3 /a x"},
		{"arbor set /a - --version 3", "arbor set --version 3 /a -"},
		{"arbor set /a -- -1", "arbor set -- /a -1"},
		{"arbor set --version 2 -- /a --ephemeral", "arbor set --version 2 -- /a --ephemeral"},
		{"arbor get /a", "arbor get /a"},
		{"arbor get --unknown /a", "arbor get --unknown /a"},
		{"arbor watch /a -n 2 -r", "arbor watch -n 2 -r /a"},
		{"arbor nosuch /a -x", "arbor nosuch /a -x"},
		{"arbor --timeout 1s", "arbor --timeout 1s"},
		{"arbor", "arbor"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("interspersed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCreateMode(t *testing.T) {
	for _, tc := range []struct {
		eph, seq, cont, ttlSet bool
		ttl                    time.Duration
		want                   client.Mode
		usage                  bool
	}{
		{want: client.ModePersistent},
		{eph: true, want: client.ModeEphemeral},
		{seq: true, want: client.ModePersistentSequential},
		{eph: true, seq: true, want: client.ModeEphemeralSequential},
		{cont: true, want: client.ModeContainer},
		{ttlSet: true, ttl: time.Second, want: client.ModePersistentTTL},
		{ttlSet: true, ttl: time.Second, seq: true, want: client.ModePersistentSequentialTTL},
		{ttlSet: true, ttl: time.Second, eph: true, usage: true},
		{ttlSet: true, ttl: time.Second, cont: true, usage: true},
		{ttlSet: true, ttl: 0, usage: true},
		{ttlSet: true, ttl: -time.Second, usage: true},
		{cont: true, eph: true, usage: true},
		{cont: true, seq: true, usage: true},
	} {
		got, err := createMode(tc.eph, tc.seq, tc.cont, tc.ttlSet, tc.ttl)
		var ue *usageError
		if tc.usage != errors.As(err, &ue) || (!tc.usage && got != tc.want) {
			t.Errorf("createMode(ephemeral %v, sequential %v, container %v, ttl %v %v) = %v, %v; want %v (usage error: %v)",
				tc.eph, tc.seq, tc.cont, tc.ttlSet, tc.ttl, got, err, tc.want, tc.usage)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // 0: an error
	}{
		{"1", 1}, {"1048576", 1 << 20}, {"512B", 512}, {"4KiB", 4096}, {"1MiB", 1 << 20}, {"2 MiB", 2 << 20},
		{"0", 0}, {"-1", 0}, {"", 0}, {"MiB", 0}, {"1MB", 0}, {"1.5MiB", 0}, {"4096MiB", 0},
	} {
		got, err := parseBytes(tc.in)
		if (tc.want == 0) != (err != nil) || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"get /a", []string{"get", "/a"}},
		{"  set\t/a   x  ", []string{"set", "/a", "x"}},
		{`set /a "two words"`, []string{"set", "/a", "two words"}},
		{`set /a 'it''s'`, []string{"set", "/a", "its"}},
		{`set /a '"quoted" \n'`, []string{"set", "/a", `"quoted" \n`}},
		{`set /a "say \"hi\" \\ \n"`, []string{"set", "/a", `say "hi" \ \n`}},
		{`set /a two\ words`, []string{"set", "/a", "two words"}},
		{`set /a ""`, []string{"set", "/a", ""}},
		{`set /a x""y`, []string{"set", "/a", "xy"}},
		{"", []string{}},
		{`set /a "open`, nil},
		{`set /a 'open`, nil},
		{`set /a x\`, nil},
	} {
		got, err := splitWords(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("splitWords(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCompletions(t *testing.T) {
	tree := map[string][]string{"/": {"app", "apple", "zoo"}, "/app": {"config", "cache"}}
	children := func(parent string) ([]string, error) {
		names, ok := tree[parent]
		if !ok {
			return nil, client.ErrNoNode
		}
		return names, nil
	}
	commands := []string{"create", "cd", "get"}
	for _, tc := range []struct {
		line string
		pos  int // -1: the end
		head string
		want []string
		tail string
	}{
		{"c", -1, "", []string{"create ", "cd "}, ""},
		{"get /a", -1, "get ", []string{"/app", "/apple"}, ""},
		{"get /", -1, "get ", []string{"/app", "/apple", "/zoo"}, ""},
		{"get /app/c", -1, "get ", []string{"/app/config", "/app/cache"}, ""},
		{"get /app/co", -1, "get ", []string{"/app/config"}, ""},
		{"get /nope/x", -1, "get ", nil, ""},
		{"set /z data", 6, "set ", []string{"/zoo"}, " data"},
		{"get --stat x", -1, "get --stat ", nil, ""},
	} {
		pos := tc.pos
		if pos < 0 {
			pos = len(tc.line)
		}
		head, got, tail := completions(tc.line, pos, commands, children)
		if head != tc.head || !slices.Equal(got, tc.want) || tail != tc.tail {
			t.Errorf("completions(%q, %d) = %q, %q, %q; want %q, %q, %q", tc.line, pos, head, got, tail, tc.head, tc.want, tc.tail)
		}
	}
}
