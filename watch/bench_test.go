package watch

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkFireSpread fires on one path of a registry holding one watcher
// per path: the cost must not grow with the registry's size.
func BenchmarkFireSpread(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		r := New(Config{})
		paths := make([]string, n)
		for i := range paths {
			paths[i] = fmt.Sprintf("/svc/%d/node", i)
			mustAddB(b, r, WatcherID(i), paths[i], Persistent)
		}
		b.Run(fmt.Sprintf("persistent/watchers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if len(r.Fire(Event{NodeDataChanged, paths[i%n], int64(i)}, nil)) != 1 {
					b.Fatal("want one delivery")
				}
				i++
			}
		})
		// One-shot: fire, then re-arm as the client's next read would.
		for i, p := range paths {
			r.Remove(WatcherID(i), p, AnyKind)
			mustAddB(b, r, WatcherID(i), p, Data)
		}
		b.Run(fmt.Sprintf("data+rearm/watchers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p := paths[i%n]
				if len(r.Fire(Event{NodeDataChanged, p, int64(i)}, nil)) != 1 {
					b.Fatal("want one delivery")
				}
				mustAddB(b, r, WatcherID(i%n), p, Data)
				i++
			}
		})
	}
}

// BenchmarkFireOnePath fires on a path that 10,000 watchers watch, with and
// without an allow callback.
func BenchmarkFireOnePath(b *testing.B) {
	const n = 10_000
	r := New(Config{})
	for w := range WatcherID(n) {
		mustAddB(b, r, w, "/leader", Persistent)
	}
	allowOdd := func(w WatcherID) bool { return w%2 == 1 }
	for _, tt := range []struct {
		name  string
		allow func(WatcherID) bool
		want  int
	}{{"allow=all", nil, n}, {"allow=half", allowOdd, n / 2}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(r.Fire(Event{NodeDataChanged, "/leader", 1}, tt.allow)) != tt.want {
					b.Fatal("wrong number of deliveries")
				}
			}
		})
	}
}

// BenchmarkFireRecursive fires at the bottom of a deep path. "one" has a
// recursive watch on the root only; "every-level" one on every ancestor;
// both share the registry with 100,000 recursive watches elsewhere, which
// the ancestor walk must not visit.
func BenchmarkFireRecursive(b *testing.B) {
	for _, depth := range []int{8, 64, 256} {
		var sb strings.Builder
		ancestors := []string{"/"}
		for i := range depth {
			fmt.Fprintf(&sb, "/d%d", i)
			ancestors = append(ancestors, sb.String())
		}
		leaf := sb.String()
		for _, mode := range []string{"one", "every-level"} {
			r := New(Config{})
			for i := range 100_000 {
				mustAddB(b, r, WatcherID(1_000_000+i), fmt.Sprintf("/other/%d", i), PersistentRecursive)
			}
			watched := ancestors[:1]
			if mode == "every-level" {
				watched = ancestors
			}
			for i, p := range watched {
				mustAddB(b, r, WatcherID(i), p, PersistentRecursive)
			}
			b.Run(fmt.Sprintf("depth=%d/%s", depth, mode), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if len(r.Fire(Event{NodeCreated, leaf, 1}, nil)) != len(watched) {
						b.Fatal("wrong number of deliveries")
					}
				}
			})
		}
	}
}

func mustAddB(b *testing.B, r *Registry, w WatcherID, path string, k Kind) {
	b.Helper()
	if err := r.Add(w, path, k); err != nil {
		b.Fatal(err)
	}
}
