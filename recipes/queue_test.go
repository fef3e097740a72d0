package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

func TestQueueArgs(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	for _, dir := range []string{"", "q", "/", "/q/"} {
		q := recipes.NewQueue(c, dir)
		if err := q.Put(ctx, []byte("x")); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewQueue(%q).Put: %v; want ErrBadArguments", dir, err)
		}
		if _, err := q.Take(ctx); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewQueue(%q).Take: %v; want ErrBadArguments", dir, err)
		}
		if _, err := q.TryTake(ctx); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewQueue(%q).TryTake: %v; want ErrBadArguments", dir, err)
		}
		if _, err := q.Len(ctx); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewQueue(%q).Len: %v; want ErrBadArguments", dir, err)
		}
		pq := recipes.NewPriorityQueue(c, dir)
		if err := pq.Put(ctx, []byte("x"), 1); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewPriorityQueue(%q).Put: %v; want ErrBadArguments", dir, err)
		}
		if _, err := pq.Take(ctx); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewPriorityQueue(%q).Take: %v; want ErrBadArguments", dir, err)
		}
	}
	if err := recipes.NewQueue(nil, "/q").Put(ctx, nil); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("NewQueue(nil).Put: %v; want ErrBadArguments", err)
	}
	pq := recipes.NewPriorityQueue(c, "/pq")
	if math.MaxInt > math.MaxInt32 {
		for _, p := range []int{math.MaxInt32 + 1, math.MinInt32 - 1} {
			if err := pq.Put(ctx, []byte("x"), p); !errors.Is(err, client.ErrBadArguments) || !strings.Contains(err.Error(), "priority") {
				t.Errorf("Put with priority %d: %v; want ErrBadArguments about the priority", p, err)
			}
		}
	}
	if n, err := pq.Len(ctx); err != nil || n != 0 {
		t.Errorf("after refused puts: Len %d, %v; want 0", n, err)
	}
}

// One producer's items come out in the order they were put; an empty
// queue says so; an item larger than the member takes gets its error.
func TestQueueFIFO(t *testing.T) {
	m := servertest.Start(t, func() (cfg server.Config) {
		cfg = testConfig()
		cfg.MaxDataBytes = 1024
		return cfg
	}())
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	q := recipes.NewQueue(c, "/work/fifo")
	if _, err := q.TryTake(ctx); !errors.Is(err, recipes.ErrEmpty) {
		t.Fatalf("TryTake on a queue never used: %v; want ErrEmpty", err)
	}
	const n = 40
	for i := range n {
		if err := q.Put(ctx, fmt.Appendf(nil, "item %d", i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if err := q.Put(ctx, make([]byte, 1025)); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("put of 1025 bytes on a member taking 1024: %v; want the member's BadArguments", err)
	}
	if err := q.Put(ctx, nil); err != nil { // an empty item is an item
		t.Fatalf("put of an empty item: %v", err)
	}
	if got, err := q.Len(ctx); err != nil || got != n+1 {
		t.Fatalf("Len: %d, %v; want %d", got, err, n+1)
	}
	for i := range n {
		take := q.Take
		if i%2 == 1 {
			take = q.TryTake
		}
		data, err := take(ctx)
		if want := fmt.Sprintf("item %d", i); err != nil || string(data) != want {
			t.Fatalf("take %d: %q, %v; want %q", i, data, err, want)
		}
	}
	if data, err := q.Take(ctx); err != nil || len(data) != 0 {
		t.Fatalf("take of the empty item: %q, %v", data, err)
	}
	if _, err := q.TryTake(ctx); !errors.Is(err, recipes.ErrEmpty) {
		t.Fatalf("TryTake on an emptied queue: %v; want ErrEmpty", err)
	}
	// A Take given up while waiting returns its context's error.
	short, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := q.Take(short)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Take: %v; want context.Canceled", err)
	}
	// A waiting Take gets the next item put.
	go func() {
		data, err := q.Take(ctx)
		if err == nil && string(data) != "late" {
			err = fmt.Errorf("took %q; want \"late\"", data)
		}
		done <- err
	}()
	if err := q.Put(ctx, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting take: %v", err)
	}
}

func TestPriorityQueueOrder(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	q := recipes.NewPriorityQueue(c, "/work/prio")
	puts := []struct {
		data     string
		priority int
	}{
		{"b1", 5}, {"a1", -3}, {"b2", 5}, {"mid", 0}, {"first", math.MinInt32},
		{"last", math.MaxInt32}, {"a2", -3}, {"b3", 5}, {"mid2", 0},
	}
	for _, p := range puts {
		if err := q.Put(ctx, []byte(p.data), p.priority); err != nil {
			t.Fatalf("put %s: %v", p.data, err)
		}
	}
	if got, err := q.Len(ctx); err != nil || got != len(puts) {
		t.Fatalf("Len: %d, %v; want %d", got, err, len(puts))
	}
	var got []string
	for range puts {
		data, err := q.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(data))
	}
	want := []string{"first", "a1", "a2", "mid", "mid2", "b1", "b2", "b3", "last"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("taken in order %v; want %v", got, want)
	}
	if _, err := q.TryTake(ctx); !errors.Is(err, recipes.ErrEmpty) {
		t.Errorf("TryTake on an emptied queue: %v; want ErrEmpty", err)
	}
}

// Eight producers and eight consumers on a 3-member cluster: every item is
// taken exactly once and none is lost, while one consumer's session
// expires mid-run (its member stopped past its timeout, moving everyone
// else on it) and later the leader crashes.
func TestQueueConcurrent(t *testing.T) {
	t.Parallel() // most of a 3-member cluster test is waiting (its teardown alone takes seconds)
	cl := cluster3(t)
	ctx := ctxT(t, 60*time.Second)
	const producers, consumers, perProducer = 8, 8, 25
	const total = producers * perProducer
	const dir = "/work/q"

	var mu sync.Mutex
	taken := map[string]int{}   // payload -> times taken with a nil error
	unknown := map[string]int{} // payload -> times returned with ErrUnknownOutcome
	var nTaken atomic.Int64

	consumeCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	victimMember := cl.Members()[0]
	var victim *client.Client
	var consumersWG sync.WaitGroup
	for i := range consumers {
		var c *client.Client
		if i == 0 {
			// The victim, alone on member 1 with a short session.
			c = connect(t, []string{victimMember.Addr()}, client.WithSessionTimeout(800*time.Millisecond))
			victim = c
		} else {
			c = connect(t, cl.Addrs())
		}
		q := recipes.NewQueue(c, dir)
		consumersWG.Add(1)
		go func() {
			defer consumersWG.Done()
			for range total + 1 { // bounded: no consumer takes more than all
				data, err := q.Take(consumeCtx)
				mu.Lock()
				switch {
				case err == nil:
					taken[string(data)]++
					nTaken.Add(1)
				case errors.Is(err, recipes.ErrUnknownOutcome):
					unknown[string(data)]++
				}
				mu.Unlock()
				if err != nil {
					if consumeCtx.Err() == nil && c.Err() == nil {
						t.Errorf("consumer %d: take: %v", i, err)
					}
					return
				}
			}
		}()
	}

	var producersWG sync.WaitGroup
	for p := range producers {
		c := connect(t, cl.Addrs())
		q := recipes.NewQueue(c, dir)
		producersWG.Add(1)
		go func() {
			defer producersWG.Done()
			for j := range perProducer {
				if err := q.Put(ctx, fmt.Appendf(nil, "p%d-%d", p, j)); err != nil {
					t.Errorf("producer %d: put %d: %v", p, j, err)
					return
				}
			}
		}()
	}

	eventually(t, "a quarter of the items taken", func() bool { return nTaken.Load() >= total/4 })
	expire(t, victimMember, victim)
	eventually(t, "half of the items taken", func() bool { return nTaken.Load() >= total/2 })
	cl.WaitLeader().Stop()
	producersWG.Wait()
	eventually(t, "every item taken", func() bool {
		mu.Lock()
		defer mu.Unlock()
		done := 0
		for p := range producers {
			for j := range perProducer {
				// An item whose take had an unknown outcome may be
				// gone with that take: it is accounted for.
				if k := fmt.Sprintf("p%d-%d", p, j); taken[k] > 0 || unknown[k] > 0 {
					done++
				}
			}
		}
		return done == total
	})
	stopConsumers()
	consumersWG.Wait()

	mu.Lock()
	defer mu.Unlock()
	for p := range producers {
		for j := range perProducer {
			k := fmt.Sprintf("p%d-%d", p, j)
			switch n, u := taken[k], unknown[k]; {
			case n > 1:
				t.Errorf("%s taken %d times", k, n)
			case n == 0 && u == 0:
				t.Errorf("%s lost", k)
			case u > 0:
				// The expired consumer's take may or may not have
				// deleted it; either another consumer took it, or it
				// is gone with that take (which returned its data).
				t.Logf("%s: take with an unknown outcome; taken by another %d time(s)", k, n)
			}
		}
	}
	if len(taken) > total {
		t.Errorf("%d distinct items taken; want %d", len(taken), total)
	}
	observer := connect(t, cl.Addrs())
	q := recipes.NewQueue(observer, dir)
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Errorf("left in the queue: %d, %v; want 0", n, err)
	}
}
