package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/arbor-coord/arbor/client"
)

// TestSemanticsOrderReadYourWrites checks, on every member, that a read
// issued after a write completes sees it.
func TestSemanticsOrderReadYourWrites(t *testing.T) {
	root := testRoot(t, connect(t, nil))
	for i, addr := range servers(t) {
		t.Run(fmt.Sprintf("member%d", i), func(t *testing.T) {
			c := connect(t, []string{addr})
			p := mustCreate(t, c, fmt.Sprintf("%s/m%d", root, i), nil)
			if _, err := c.Exists(ctxT(t), p); err != nil {
				t.Fatalf("exists right after create: %v", err)
			}
			for v := 1; v <= 20; v++ {
				want := strconv.Itoa(v)
				st, err := c.Set(ctxT(t), p, []byte(want), int32(v-1))
				mustOK(t, err, "set")
				data, gst, err := c.Get(ctxT(t), p)
				mustOK(t, err, "get")
				if string(data) != want || gst.Version != int32(v) || gst.Mzxid != st.Mzxid {
					t.Fatalf("get after set %d: %q version %d mzxid %d, want %q version %d mzxid %d",
						v, data, gst.Version, gst.Mzxid, want, v, st.Mzxid)
				}
			}
			mustOK(t, c.Delete(ctxT(t), p, -1), "delete")
			_, err := c.Exists(ctxT(t), p)
			wantErr(t, err, client.ErrNoNode, "exists right after delete")
		})
	}
}

// TestSemanticsOrderPipelined drives one client from several goroutines at
// once (the client pipelines their requests on one connection): each
// goroutine's writes apply in its call order (conditional sets on its own
// node all succeed; its sequential creates get increasing numbers), and
// each read after a write sees it.
func TestSemanticsOrderPipelined(t *testing.T) {
	const goroutines, rounds = 8, 30
	c := connect(t, nil)
	root := testRoot(t, c)
	queue := mustCreate(t, c, root+"/queue", nil)

	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				p, err := c.Create(ctxT(t), fmt.Sprintf("%s/g%d", root, g), nil)
				if err != nil {
					return err
				}
				last := -1
				for v := 1; v <= rounds; v++ {
					want := fmt.Sprintf("%d/%d", g, v)
					if _, err := c.Set(ctxT(t), p, []byte(want), int32(v-1)); err != nil {
						return fmt.Errorf("goroutine %d: set %d with version %d: %w", g, v, v-1, err)
					}
					data, _, err := c.Get(ctxT(t), p)
					if err != nil {
						return err
					}
					if string(data) != want {
						return fmt.Errorf("goroutine %d: get after set %q read %q", g, want, data)
					}
					q, err := c.Create(ctxT(t), queue+"/e-", []byte(want), client.WithMode(client.ModePersistentSequential))
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(q[len(queue+"/e-"):])
					if err != nil {
						return err
					}
					if n <= last {
						return fmt.Errorf("goroutine %d: sequential create got %d after %d", g, n, last)
					}
					last = n
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	children, _, err := c.Children(ctxT(t), queue)
	mustOK(t, err, "children")
	if len(children) != goroutines*rounds {
		t.Errorf("%d queue entries, want %d", len(children), goroutines*rounds)
	}
}

// TestSemanticsOrderNoReadsBackwards moves a reading client from one member
// to another (its connection to the first goes through a forwarder that is
// then cut) while another client keeps writing: the reader's LastZxid never
// decreases and no read returns an older version than one before.
func TestSemanticsOrderNoReadsBackwards(t *testing.T) {
	addrs := servers(t)
	if len(addrs) < 2 {
		t.Skip("needs two members")
	}
	fwd := startForwarder(t, addrs[0])
	writer := connect(t, []string{addrs[len(addrs)-1]})
	root := testRoot(t, writer)
	p := mustCreate(t, writer, root+"/r", nil)
	reader := connect(t, []string{fwd.Addr(), addrs[1]}, client.WithOrderedServers())
	if _, addr := reader.Member(); addr != fwd.Addr() {
		t.Fatalf("reader connected through %q, want the forwarder %s", addr, fwd.Addr())
	}

	var stop atomic.Bool
	writes := make(chan error, 1)
	go func() {
		defer close(writes)
		for i := 0; i < 2000 && !stop.Load(); i++ {
			if _, err := writer.Set(ctxT(t), p, []byte(strconv.Itoa(i)), -1); err != nil {
				writes <- err
				return
			}
		}
	}()
	defer func() {
		stop.Store(true)
		for err := range writes {
			t.Errorf("writer: %v", err)
		}
	}()

	var lastVersion int32 = -1
	var lastZxid uint64
	read := func(phase string) {
		t.Helper()
		_, st, err := reader.Get(ctxT(t), p)
		mustOK(t, err, phase+": get")
		if st.Version < lastVersion {
			t.Fatalf("%s: read version %d after version %d: reads went backwards", phase, st.Version, lastVersion)
		}
		z := reader.LastZxid()
		if z < lastZxid {
			t.Fatalf("%s: LastZxid %d after %d", phase, z, lastZxid)
		}
		if uint64(st.Mzxid) > z {
			t.Fatalf("%s: read mzxid %d above LastZxid %d", phase, st.Mzxid, z)
		}
		lastVersion, lastZxid = st.Version, z
	}
	// Read while the writer makes progress, then cut the reader off its
	// member, and read on across the switch until it has seen more.
	eventually(t, "the reader to see 20 writes on the first member", func() bool {
		read("on the first member")
		return lastVersion >= 20
	})
	before := lastVersion
	fwd.Cut()
	eventually(t, "the reader to move to "+addrs[1]+" and see 20 more writes", func() bool {
		read("across the switch")
		_, addr := reader.Member()
		return addr == addrs[1] && lastVersion >= before+20
	})
	if reader.Err() != nil {
		t.Fatalf("the reader's session ended: %v", reader.Err())
	}
	t.Logf("read version %d before the switch, %d after; LastZxid %d", before, lastVersion, lastZxid)
}

// TestSemanticsOrderSyncLinearizable checks that sync makes the next read
// see every write acknowledged before it: the writer and the reader are
// on different members, and the reader must see each write at once.
func TestSemanticsOrderSyncLinearizable(t *testing.T) {
	addrs := servers(t)
	writer := connect(t, addrs[:1])
	root := testRoot(t, writer)
	p := mustCreate(t, writer, root+"/s", []byte("0"))
	for _, addr := range addrs[1:] {
		reader := connect(t, []string{addr})
		for i := 1; i <= 50; i++ {
			want := strconv.Itoa(i)
			st, err := writer.Set(ctxT(t), p, []byte(want), -1)
			mustOK(t, err, "set")
			kid := mustCreate(t, writer, fmt.Sprintf("%s/k-", p), nil, client.WithMode(client.ModePersistentSequential))
			mustOK(t, reader.Sync(ctxT(t), p), "sync")
			data, gst, err := reader.Get(ctxT(t), p)
			mustOK(t, err, "get after sync")
			if string(data) != want || gst.Mzxid != st.Mzxid {
				t.Fatalf("reader on %s, round %d: read %q (mzxid %d) after sync, want %q (mzxid %d)", addr, i, data, gst.Mzxid, want, st.Mzxid)
			}
			if _, err := reader.Exists(ctxT(t), kid); err != nil {
				if errors.Is(err, client.ErrNoNode) {
					t.Fatalf("reader on %s, round %d: %s missing after sync", addr, i, kid)
				}
				t.Fatal(err)
			}
		}
	}
}
