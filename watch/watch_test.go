package watch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// check asserts the registry's internal invariants: the two indexes agree,
// and the counts match what they hold.
func (r *Registry) check() error {
	watches, recursive := 0, 0
	for w, mine := range r.byWatcher {
		if len(mine.paths) == 0 {
			return fmt.Errorf("watcher %d: empty entry kept", w)
		}
		n := 0
		for path, k := range mine.paths {
			if k == 0 || k&^AnyKind != 0 {
				return fmt.Errorf("watcher %d path %s: bad kinds %s", w, path, k)
			}
			e := r.paths[path]
			if e == nil || e.kinds[w] != k {
				return fmt.Errorf("watcher %d path %s: kinds %s, path index has %v", w, path, k, e)
			}
			if _, ok := e.recursive[w]; ok != (k&PersistentRecursive != 0) {
				return fmt.Errorf("watcher %d path %s: kinds %s, in recursive set %v", w, path, k, ok)
			}
			n += popcount(k)
		}
		if n != mine.n {
			return fmt.Errorf("watcher %d: count %d, holds %d", w, mine.n, n)
		}
		if n > r.max {
			return fmt.Errorf("watcher %d: holds %d, limit %d", w, n, r.max)
		}
		watches += n
	}
	for path, e := range r.paths {
		if len(e.kinds) == 0 {
			return fmt.Errorf("path %s: empty entry kept", path)
		}
		if e.recursive != nil && len(e.recursive) == 0 {
			return fmt.Errorf("path %s: empty recursive set kept", path)
		}
		for w, k := range e.kinds {
			if mine := r.byWatcher[w]; mine == nil || mine.paths[path] != k {
				return fmt.Errorf("path %s watcher %d: kinds %s missing from the watcher index", path, w, k)
			}
		}
		recursive += len(e.recursive)
	}
	if watches != r.watches || recursive != r.recursive {
		return fmt.Errorf("counts: watches %d (hold %d), recursive %d (hold %d)", r.watches, watches, r.recursive, recursive)
	}
	return nil
}

type add struct {
	w    WatcherID
	path string
	k    Kind
}

// trace renders deliveries one per line: "w=1 Data|Persistent NodeCreated /a 7".
func trace(ds []Delivery) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "w=%d %s %s %s %d\n", d.Watcher, d.Kind, d.Event.Type, d.Event.Path, d.Event.Zxid)
	}
	return b.String()
}

func TestFire(t *testing.T) {
	type fire struct {
		ev   Event
		want string // trace of the deliveries
	}
	ev := func(typ EventType, path string, zxid int64) Event { return Event{typ, path, zxid} }
	tests := []struct {
		name  string
		adds  []add
		fires []fire
		left  int // registrations left at the end
	}{
		{"exists on a missing node fires on create", []add{{1, "/a", Data}}, []fire{
			{ev(NodeCreated, "/a", 5), "w=1 Data NodeCreated /a 5\n"},
			{ev(NodeDataChanged, "/a", 6), ""},
		}, 0},
		{"data watch fires on data change", []add{{1, "/a", Data}}, []fire{
			{ev(NodeDataChanged, "/a", 5), "w=1 Data NodeDataChanged /a 5\n"},
		}, 0},
		{"data watch fires on delete", []add{{1, "/a", Data}}, []fire{
			{ev(NodeDeleted, "/a", 5), "w=1 Data NodeDeleted /a 5\n"},
		}, 0},
		{"data watch ignores children changed", []add{{1, "/a", Data}}, []fire{
			{ev(NodeChildrenChanged, "/a", 5), ""},
		}, 1},
		{"data watch ignores other paths", []add{{1, "/a", Data}}, []fire{
			{ev(NodeDataChanged, "/a/b", 5), ""},
			{ev(NodeDataChanged, "/", 6), ""},
			{ev(NodeDataChanged, "/ab", 7), ""},
		}, 1},
		{"child watch fires on children changed", []add{{1, "/a", Child}}, []fire{
			{ev(NodeChildrenChanged, "/a", 5), "w=1 Child NodeChildrenChanged /a 5\n"},
		}, 0},
		{"child watch fires on delete of the node", []add{{1, "/a", Child}}, []fire{
			{ev(NodeDeleted, "/a", 5), "w=1 Child NodeDeleted /a 5\n"},
		}, 0},
		{"child watch ignores data and create", []add{{1, "/a", Child}}, []fire{
			{ev(NodeDataChanged, "/a", 5), ""},
			{ev(NodeCreated, "/a", 6), ""},
			{ev(NodeCreated, "/a/b", 7), ""},
		}, 1},
		{"one-shot fires once", []add{{1, "/a", Data}, {1, "/a", Child}}, []fire{
			{ev(NodeDataChanged, "/a", 5), "w=1 Data NodeDataChanged /a 5\n"},
			{ev(NodeDataChanged, "/a", 6), ""},
			{ev(NodeChildrenChanged, "/a", 7), "w=1 Child NodeChildrenChanged /a 7\n"},
			{ev(NodeChildrenChanged, "/a", 8), ""},
		}, 0},
		{"delete fires data and child watches as one delivery", []add{{1, "/a", Data}, {1, "/a", Child}}, []fire{
			{ev(NodeDeleted, "/a", 5), "w=1 Data|Child NodeDeleted /a 5\n"},
		}, 0},
		{"dedupe: the same one-shot set twice fires once", []add{{1, "/a", Data}, {1, "/a", Data}}, []fire{
			{ev(NodeDataChanged, "/a", 5), "w=1 Data NodeDataChanged /a 5\n"},
			{ev(NodeDataChanged, "/a", 6), ""},
		}, 0},
		{"persistent fires on every event of its path and stays", []add{{1, "/a", Persistent}}, []fire{
			{ev(NodeCreated, "/a", 5), "w=1 Persistent NodeCreated /a 5\n"},
			{ev(NodeDataChanged, "/a", 6), "w=1 Persistent NodeDataChanged /a 6\n"},
			{ev(NodeChildrenChanged, "/a", 7), "w=1 Persistent NodeChildrenChanged /a 7\n"},
			{ev(NodeDeleted, "/a", 8), "w=1 Persistent NodeDeleted /a 8\n"},
			{ev(NodeCreated, "/a/b", 9), ""},
		}, 1},
		{"recursive fires on the path and below", []add{{1, "/a", PersistentRecursive}}, []fire{
			{ev(NodeCreated, "/a", 5), "w=1 PersistentRecursive NodeCreated /a 5\n"},
			{ev(NodeCreated, "/a/b", 6), "w=1 PersistentRecursive NodeCreated /a/b 6\n"},
			{ev(NodeDataChanged, "/a/b/c", 7), "w=1 PersistentRecursive NodeDataChanged /a/b/c 7\n"},
			{ev(NodeDeleted, "/a/b", 8), "w=1 PersistentRecursive NodeDeleted /a/b 8\n"},
			{ev(NodeDeleted, "/a", 9), "w=1 PersistentRecursive NodeDeleted /a 9\n"},
		}, 1},
		{"recursive ignores children changed", []add{{1, "/a", PersistentRecursive}}, []fire{
			{ev(NodeChildrenChanged, "/a", 5), ""},
			{ev(NodeChildrenChanged, "/a/b", 6), ""},
		}, 1},
		{"recursive ignores siblings by segment and ancestors", []add{{1, "/a", PersistentRecursive}}, []fire{
			{ev(NodeCreated, "/ab", 5), ""},
			{ev(NodeDataChanged, "/", 6), ""},
		}, 1},
		{"recursive on the root sees everything but children changed", []add{{1, "/", PersistentRecursive}}, []fire{
			{ev(NodeDataChanged, "/", 5), "w=1 PersistentRecursive NodeDataChanged / 5\n"},
			{ev(NodeCreated, "/x/y", 6), "w=1 PersistentRecursive NodeCreated /x/y 6\n"},
			{ev(NodeChildrenChanged, "/x", 7), ""},
		}, 1},
		{"a watcher with several matching watches gets one delivery", []add{
			{1, "/", PersistentRecursive}, {1, "/a", PersistentRecursive}, {1, "/a/b", Data}, {1, "/a/b", Persistent},
		}, []fire{
			{ev(NodeDataChanged, "/a/b", 5), "w=1 Data|Persistent|PersistentRecursive NodeDataChanged /a/b 5\n"},
			{ev(NodeDataChanged, "/a/b", 6), "w=1 Persistent|PersistentRecursive NodeDataChanged /a/b 6\n"},
		}, 3},
		{"deliveries are sorted by watcher", []add{
			{9, "/a", Data}, {3, "/", PersistentRecursive}, {7, "/a", Persistent}, {1, "/a", PersistentRecursive}, {5, "/b", Data},
		}, []fire{
			{ev(NodeDataChanged, "/a", 5), "w=1 PersistentRecursive NodeDataChanged /a 5\nw=3 PersistentRecursive NodeDataChanged /a 5\nw=7 Persistent NodeDataChanged /a 5\nw=9 Data NodeDataChanged /a 5\n"},
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Config{})
			for _, a := range tt.adds {
				if err := r.Add(a.w, a.path, a.k); err != nil {
					t.Fatalf("Add(%d, %s, %s): %v", a.w, a.path, a.k, err)
				}
			}
			for _, f := range tt.fires {
				if got := trace(r.Fire(f.ev, nil)); got != f.want {
					t.Errorf("Fire(%v):\n got: %q\nwant: %q", f.ev, got, f.want)
				}
				if err := r.check(); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.Stats().Watches; got != tt.left {
				t.Errorf("%d watches left, want %d: %v", got, tt.left, r.Watches(1))
			}
		})
	}
}

func TestFireAllow(t *testing.T) {
	r := New(Config{})
	for w := WatcherID(1); w <= 3; w++ {
		mustAdd(t, r, w, "/a", Data)
	}
	mustAdd(t, r, 2, "/", PersistentRecursive)
	var asked []WatcherID
	deny2 := func(w WatcherID) bool { asked = append(asked, w); return w != 2 }
	got := trace(r.Fire(Event{NodeDataChanged, "/a", 5}, deny2))
	if want := "w=1 Data NodeDataChanged /a 5\nw=3 Data NodeDataChanged /a 5\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !slices.Equal(asked, []WatcherID{1, 2, 3}) {
		t.Errorf("allow asked about %v, want each watcher once, in order", asked)
	}
	// The refused watcher's one-shot watch stays armed; the others' are gone.
	if got := r.Watches(2); !slices.Equal(got, []Registration{{"/", PersistentRecursive}, {"/a", Data}}) {
		t.Errorf("watcher 2 holds %v", got)
	}
	if r.Count(1) != 0 || r.Count(3) != 0 {
		t.Errorf("watchers 1 and 3 hold %d and %d watches, want 0", r.Count(1), r.Count(3))
	}
	got = trace(r.Fire(Event{NodeDeleted, "/a", 6}, nil))
	if want := "w=2 Data|PersistentRecursive NodeDeleted /a 6\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if ds := r.Fire(Event{NodeCreated, "/a", 7}, func(WatcherID) bool { return false }); ds != nil {
		t.Errorf("all refused: got %v, want nil", ds)
	}
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
}

func mustAdd(t *testing.T, r *Registry, w WatcherID, path string, k Kind) {
	t.Helper()
	if err := r.Add(w, path, k); err != nil {
		t.Fatalf("Add(%d, %s, %s): %v", w, path, k, err)
	}
}

func TestRemove(t *testing.T) {
	r := New(Config{})
	mustAdd(t, r, 1, "/a", Data)
	mustAdd(t, r, 1, "/a", Child)
	mustAdd(t, r, 1, "/a", PersistentRecursive)
	mustAdd(t, r, 2, "/a", Data)
	tests := []struct {
		w    WatcherID
		path string
		ks   Kind
		want bool
		left []Registration // watcher 1's
	}{
		{1, "/a", Persistent, false, []Registration{{"/a", Data}, {"/a", Child}, {"/a", PersistentRecursive}}},
		{1, "/b", AnyKind, false, []Registration{{"/a", Data}, {"/a", Child}, {"/a", PersistentRecursive}}},
		{3, "/a", AnyKind, false, []Registration{{"/a", Data}, {"/a", Child}, {"/a", PersistentRecursive}}},
		{1, "/a", Data, true, []Registration{{"/a", Child}, {"/a", PersistentRecursive}}},
		{1, "/a", Data, false, []Registration{{"/a", Child}, {"/a", PersistentRecursive}}},
		{1, "/a", AnyKind, true, nil},
		{1, "/a", AnyKind, false, nil},
	}
	for i, tt := range tests {
		if got := r.Remove(tt.w, tt.path, tt.ks); got != tt.want {
			t.Errorf("%d: Remove(%d, %s, %s) = %v, want %v", i, tt.w, tt.path, tt.ks, got, tt.want)
		}
		if got := r.Watches(1); !slices.Equal(got, tt.left) {
			t.Errorf("%d: watcher 1 holds %v, want %v", i, got, tt.left)
		}
		if err := r.check(); err != nil {
			t.Fatal(err)
		}
	}
	if ds := r.Fire(Event{NodeDeleted, "/a/b", 9}, nil); ds != nil {
		t.Errorf("removed recursive watch fired: %v", ds)
	}
	if got := trace(r.Fire(Event{NodeDeleted, "/a", 9}, nil)); got != "w=2 Data NodeDeleted /a 9\n" {
		t.Errorf("watcher 2's watch: got %q", got)
	}
}

func TestRemoveAll(t *testing.T) {
	r := New(Config{})
	mustAdd(t, r, 1, "/a", Data)
	mustAdd(t, r, 1, "/b", Child)
	mustAdd(t, r, 1, "/b", Persistent)
	mustAdd(t, r, 1, "/", PersistentRecursive)
	mustAdd(t, r, 2, "/a", Data)
	if got := r.Stats(); got != (Stats{Watchers: 2, Paths: 3, Watches: 5}) {
		t.Errorf("Stats() = %+v", got)
	}
	if n := r.RemoveAll(1); n != 4 {
		t.Errorf("RemoveAll(1) = %d, want 4", n)
	}
	if n := r.RemoveAll(1); n != 0 {
		t.Errorf("RemoveAll(1) again = %d, want 0", n)
	}
	if got := r.Stats(); got != (Stats{Watchers: 1, Paths: 1, Watches: 1}) {
		t.Errorf("Stats() = %+v", got)
	}
	if r.Watches(1) != nil || r.Count(1) != 0 {
		t.Errorf("watcher 1 still holds %v", r.Watches(1))
	}
	if got := trace(r.Fire(Event{NodeDeleted, "/a", 3}, nil)); got != "w=2 Data NodeDeleted /a 3\n" {
		t.Errorf("got %q", got)
	}
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
}

func TestLimit(t *testing.T) {
	r := New(Config{MaxPerWatcher: 2})
	mustAdd(t, r, 1, "/a", Data)
	mustAdd(t, r, 1, "/a", Child)
	mustAdd(t, r, 1, "/a", Data) // already held: no new registration
	err := r.Add(1, "/b", Data)
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, errcode.QuotaExceeded) {
		t.Fatalf("Add past the limit: %v, want a *LimitError matching QuotaExceeded", err)
	}
	if *le != (LimitError{Watcher: 1, Path: "/b", Kind: Data, Limit: 2}) {
		t.Errorf("LimitError = %+v", *le)
	}
	if want := "watch Data /b: watcher 1 already holds 2 watches, the limit"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	mustAdd(t, r, 2, "/b", Data) // the limit is per watcher
	r.Fire(Event{NodeDataChanged, "/a", 4}, nil)
	mustAdd(t, r, 1, "/b", Data) // room again once a one-shot fired
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		0: "0", Data: "Data", Child: "Child", Persistent: "Persistent", PersistentRecursive: "PersistentRecursive",
		AnyKind: "Data|Child|Persistent|PersistentRecursive", Data | 0x40: "Data|Kind(0x40)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
	if got := EventType(9).String(); got != "EventType(9)" {
		t.Errorf("EventType(9).String() = %q", got)
	}
}

func TestPanics(t *testing.T) {
	r := New(Config{})
	for name, f := range map[string]func(){
		"Add of no kind":       func() { r.Add(1, "/a", 0) },
		"Add of two kinds":     func() { r.Add(1, "/a", Data|Child) },
		"Add of AnyKind":       func() { r.Add(1, "/a", AnyKind) },
		"Add of a bad kind":    func() { r.Add(1, "/a", 0x10) },
		"Add on relative path": func() { r.Add(1, "a", Data) },
		"Fire of a bad type":   func() { r.Fire(Event{Type: 0, Path: "/a"}, nil) },
		"negative limit":       func() { New(Config{MaxPerWatcher: -1}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
