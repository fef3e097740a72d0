package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// settings is the configuration type of the tests.
type settings struct {
	N    int    `json:"n"`
	Name string `json:"name"`
}

// followConfig consumes w's updates until it sees N == final, checking that
// versions and zxids only grow, and returns how many updates it saw.
func followConfig(ctx context.Context, w *recipes.Config[settings], final int) (int, error) {
	var lastVersion int32 = -1
	var lastZxid int64
	seen := 0
	for {
		select {
		case u, ok := <-w.Updates():
			if !ok {
				return seen, fmt.Errorf("updates closed before the final value: %v", w.Err())
			}
			seen++
			if u.Err != nil || u.Deleted {
				return seen, fmt.Errorf("unexpected update %+v", u)
			}
			if u.Version <= lastVersion || u.Zxid <= lastZxid {
				return seen, fmt.Errorf("update went back or repeated: version %d zxid %d after version %d zxid %d", u.Version, u.Zxid, lastVersion, lastZxid)
			}
			if u.Value.N != int(u.Version) {
				return seen, fmt.Errorf("version %d carries value %d", u.Version, u.Value.N)
			}
			lastVersion, lastZxid = u.Version, u.Zxid
			if u.Value.N == final {
				return seen, nil
			}
		case <-ctx.Done():
			return seen, fmt.Errorf("final value %d not seen (last version %d): %w", final, lastVersion, ctx.Err())
		}
	}
}

// TestConfigWatchers: one writer makes 200 changes while 4 watchers watch
// (one with a client watch buffer of 1, so that it overflows); each sees
// versions only grow and ends on the final value.
func TestConfigWatchers(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	writer := connect(t, []string{m.Addr()})
	const path, changes = "/cfg/app/settings", 200
	// Version 0 carries N 0: the value's N is always its version.
	if v, err := recipes.SetConfig(ctx, writer, path, settings{N: 0}, -1); err != nil || v != 0 {
		t.Fatalf("SetConfig create: version %d, %v", v, err)
	}
	var watchers []*recipes.Config[settings]
	for i := range 4 {
		var opts []client.Option
		if i == 3 {
			// This one's watcher overflows, and is added again.
			opts = append(opts, client.WithWatchBuffer(1))
		}
		w, err := recipes.WatchConfig[settings](ctx, connect(t, []string{m.Addr()}, opts...), path)
		if err != nil {
			t.Fatal(err)
		}
		if v, ver, ok := w.Value(); !ok || ver != 0 || v.N != 0 {
			t.Fatalf("initial Value = %+v, %d, %v", v, ver, ok)
		}
		watchers = append(watchers, w)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(watchers))
	for i, w := range watchers {
		wg.Go(func() {
			seen, err := followConfig(ctx, w, changes)
			if err != nil {
				errs <- fmt.Errorf("watcher %d: %w", i, err)
			}
			t.Logf("watcher %d saw %d updates of %d changes", i, seen, changes)
		})
	}
	for n := 1; n <= changes; n++ {
		// Versioned writes: the writer is the only one, so each succeeds.
		v, err := recipes.SetConfig(ctx, writer, path, settings{N: n, Name: "x"}, int32(n-1))
		if err != nil || v != int32(n) {
			t.Fatalf("SetConfig %d: version %d, %v", n, v, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, w := range watchers {
		if v, ver, ok := w.Value(); !ok || ver != changes || v.N != changes {
			t.Errorf("watcher %d: Value = %+v, %d, %v; want the final value", i, v, ver, ok)
		}
		if err := w.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, ok := <-w.Updates(); ok {
			t.Errorf("watcher %d: Updates still open after Close", i)
		}
		if err := w.Err(); !errors.Is(err, recipes.ErrWatchClosed) {
			t.Errorf("watcher %d: Err after Close = %v", i, err)
		}
	}
}

// TestConfigDecodeErrorDeleteRecreate: data that does not decode is
// reported and the last good value kept; unknown fields are allowed; a
// deletion and a re-creation are reported in order.
func TestConfigDecodeErrorDeleteRecreate(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 20*time.Second)
	c := connect(t, []string{m.Addr()})
	const path = "/cfg/decode"
	w, err := recipes.WatchConfig[settings](ctx, c, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if _, _, ok := w.Value(); ok {
		t.Fatal("a missing node has a value")
	}
	next := func() recipes.ConfigUpdate[settings] {
		t.Helper()
		select {
		case u, ok := <-w.Updates():
			if !ok {
				t.Fatalf("updates closed: %v", w.Err())
			}
			return u
		case <-ctx.Done():
			t.Fatal("no update")
		}
		panic("unreachable")
	}
	if _, err := recipes.SetConfig(ctx, c, path, settings{N: 1}, -1); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.Err != nil || u.Deleted || u.Value.N != 1 || u.Version != 0 {
		t.Fatalf("after create: %+v", u)
	}
	if _, err := c.Set(ctx, path, []byte("{not json"), 0); err != nil {
		t.Fatal(err)
	}
	u := next()
	if u.Err == nil || u.Version != 1 {
		t.Fatalf("bad data: update %+v, want an Err at version 1", u)
	}
	if v, ver, ok := w.Value(); !ok || v.N != 1 || ver != 0 {
		t.Fatalf("after bad data: Value = %+v, %d, %v; want the last good value", v, ver, ok)
	}
	// A field this reader does not know yet is fine.
	if _, err := c.Set(ctx, path, []byte(`{"n":7,"added_later":true}`), 1); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.Err != nil || u.Value.N != 7 || u.Version != 2 {
		t.Fatalf("after unknown field: %+v", u)
	}
	if err := c.Delete(ctx, path, -1); err != nil {
		t.Fatal(err)
	}
	if u := next(); !u.Deleted {
		t.Fatalf("after delete: %+v", u)
	}
	if _, _, ok := w.Value(); ok {
		t.Fatal("a deleted node has a value")
	}
	if v, err := recipes.SetConfig(ctx, c, path, settings{N: 9}, -1); err != nil || v != 0 {
		t.Fatalf("re-create: %d, %v", v, err)
	}
	if u := next(); u.Deleted || u.Value.N != 9 || u.Version != 0 {
		t.Fatalf("after re-create: %+v", u)
	}
}

// TestConfigBadInput: wrong arguments are refused with a clear error and
// write nothing.
func TestConfigBadInput(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 20*time.Second)
	c := connect(t, []string{m.Addr()})
	if _, err := recipes.WatchConfig[settings](ctx, c, "no/slash"); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("WatchConfig on a relative path: %v", err)
	}
	if _, err := recipes.WatchConfig[settings](ctx, c, ""); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("WatchConfig on an empty path: %v", err)
	}
	if _, err := recipes.SetConfig(ctx, c, "/cfg/x", settings{}, -2); err == nil {
		t.Error("SetConfig at version -2 succeeded")
	}
	if _, err := recipes.SetConfig[*settings](ctx, c, "/cfg/x", nil, -1); err == nil {
		t.Error("SetConfig of a nil pointer succeeded")
	}
	if _, err := recipes.SetConfig(ctx, c, "/cfg/x", make(chan int), -1); err == nil {
		t.Error("SetConfig of a channel succeeded")
	}
	if _, err := recipes.SetConfig(ctx, c, "/cfg/x//y", 1, -1); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("SetConfig on a bad path: %v", err)
	}
	if _, err := recipes.SetConfig(ctx, c, "/cfg/x", 1, 3); !errors.Is(err, client.ErrNoNode) {
		t.Errorf("SetConfig at version 3 of a missing node: %v", err)
	}
	if _, err := c.Exists(ctx, "/cfg"); !errors.Is(err, client.ErrNoNode) {
		t.Errorf("bad input wrote something: Exists(/cfg) = %v", err)
	}
}

// TestConfigMemberStop: the watchers' member stops in the middle of a run
// of changes; they move to another member and still end on the final
// value, versions only growing.
func TestConfigMemberStop(t *testing.T) {
	cl := cluster3(t)
	cl.WaitLeader()
	ctx := ctxT(t, 40*time.Second)
	members := cl.Members()
	// The watchers are on member 1 first (ordered servers), the writer on
	// member 3.
	order := []string{members[0].Addr(), members[1].Addr(), members[2].Addr()}
	writer := connect(t, []string{members[2].Addr(), members[1].Addr()}, client.WithOrderedServers())
	const path, changes = "/cfg/moving", 120
	if _, err := recipes.SetConfig(ctx, writer, path, settings{N: 0}, -1); err != nil {
		t.Fatal(err)
	}
	var watchers []*recipes.Config[settings]
	for range 4 {
		c := connect(t, order, client.WithOrderedServers())
		w, err := recipes.WatchConfig[settings](ctx, c, path)
		if err != nil {
			t.Fatal(err)
		}
		watchers = append(watchers, w)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(watchers))
	for i, w := range watchers {
		wg.Go(func() {
			if _, err := followConfig(ctx, w, changes); err != nil {
				errs <- fmt.Errorf("watcher %d: %w", i, err)
			}
		})
	}
	for n := 1; n <= changes; n++ {
		if n == changes/3 {
			members[0].Stop()
		}
		if _, err := recipes.SetConfig(ctx, writer, path, settings{N: n}, int32(n-1)); err != nil {
			t.Fatalf("SetConfig %d: %v", n, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	members[0].Restart()
}

// TestConfigSlowConsumerAndExpiry: a consumer that reads nothing while 50
// changes are made then finds the changes coalesced, versions growing, up
// to the final value; when the watcher's session expires, Updates closes
// and Err says why, and Value keeps the last value.
func TestConfigSlowConsumerAndExpiry(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	writer := connect(t, []string{m.Addr()})
	short := connect(t, []string{m.Addr()}, client.WithSessionTimeout(800*time.Millisecond))
	const path, changes = "/cfg/slow", 50
	if _, err := recipes.SetConfig(ctx, writer, path, settings{N: 0}, -1); err != nil {
		t.Fatal(err)
	}
	w, err := recipes.WatchConfig[settings](ctx, short, path)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= changes; n++ {
		if _, err := recipes.SetConfig(ctx, writer, path, settings{N: n}, -1); err != nil {
			t.Fatal(err)
		}
	}
	seen, err := followConfig(ctx, w, changes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the slow consumer saw %d updates of %d changes", seen, changes)

	expire(t, m, short)
	for u := range w.Updates() {
		t.Errorf("update after the final value: %+v", u)
	}
	if err := w.Err(); !errors.Is(err, client.ErrSessionExpired) {
		t.Errorf("Err after the session expired: %v", err)
	}
	if v, ver, ok := w.Value(); !ok || v.N != changes || ver != changes {
		t.Errorf("Value after the end: %+v, %d, %v", v, ver, ok)
	}
	if err := w.Close(ctx); err != nil {
		t.Errorf("Close after the end: %v", err)
	}
	if err := w.Err(); !errors.Is(err, client.ErrSessionExpired) {
		t.Errorf("Close changed Err to %v", err)
	}
}
