package recipes_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Sixteen clients add at once, some through a member's restart: the final
// value is exact, and every Add saw a value of its own.
func TestCounterConcurrent(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	const clients, adds = 16, 15
	results := make(chan int64, clients*adds)
	var wg sync.WaitGroup
	for range clients {
		n := recipes.NewCounter(connect(t, []string{m.Addr()}), "/stats/hits")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range adds {
				v, err := n.Add(ctx, 1)
				if err != nil {
					t.Errorf("add: %v", err)
					return
				}
				results <- v
			}
		}()
	}
	m.Restart() // connections drop mid-run; the adds go on
	wg.Wait()
	close(results)
	seen := map[int64]bool{}
	for v := range results {
		if seen[v] || v < 1 || v > clients*adds {
			t.Errorf("Add returned %d twice or out of 1..%d", v, clients*adds)
		}
		seen[v] = true
	}
	n := recipes.NewCounter(connect(t, []string{m.Addr()}), "/stats/hits")
	if v, err := n.Get(ctx); err != nil || v != clients*adds {
		t.Errorf("final value %d, %v; want %d", v, err, clients*adds)
	}
}

func TestCounterErrors(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	for _, path := range []string{"", "x", "/", "/x/"} {
		n := recipes.NewCounter(c, path)
		if _, err := n.Get(ctx); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewCounter(%q).Get: %v; want ErrBadArguments", path, err)
		}
		if _, err := n.Add(ctx, 1); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewCounter(%q).Add: %v; want ErrBadArguments", path, err)
		}
		if err := n.Set(ctx, 1); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("NewCounter(%q).Set: %v; want ErrBadArguments", path, err)
		}
	}
	n := recipes.NewCounter(c, "/a/b/n")
	if v, err := n.Get(ctx); err != nil || v != 0 {
		t.Errorf("Get of a missing counter: %d, %v; want 0", v, err)
	}
	if v, err := n.Add(ctx, -5); err != nil || v != -5 {
		t.Errorf("Add to a missing counter: %d, %v; want -5", v, err)
	}
	if err := n.Set(ctx, math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Add(ctx, 1); !errors.Is(err, recipes.ErrOverflow) {
		t.Errorf("Add past MaxInt64: %v; want ErrOverflow", err)
	}
	if v, err := n.Get(ctx); err != nil || v != math.MaxInt64 {
		t.Errorf("after a refused add: %d, %v; want MaxInt64 unchanged", v, err)
	}
	if err := n.Set(ctx, math.MinInt64); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Add(ctx, -1); !errors.Is(err, recipes.ErrOverflow) {
		t.Errorf("Add past MinInt64: %v; want ErrOverflow", err)
	}
	if v, err := n.Add(ctx, math.MaxInt64); err != nil || v != -1 {
		t.Errorf("MinInt64 + MaxInt64: %d, %v; want -1", v, err)
	}

	// A node made without data counts from 0; one holding something else
	// is refused, and left as it was.
	if _, err := c.Create(ctx, "/empty", nil); err != nil {
		t.Fatal(err)
	}
	empty := recipes.NewCounter(c, "/empty")
	if v, err := empty.Add(ctx, 3); err != nil || v != 3 {
		t.Errorf("Add to an empty node: %d, %v; want 3", v, err)
	}
	if _, err := c.Create(ctx, "/text", []byte("twelve")); err != nil {
		t.Fatal(err)
	}
	text := recipes.NewCounter(c, "/text")
	if _, err := text.Get(ctx); !errors.Is(err, recipes.ErrNotCounter) || !strings.Contains(err.Error(), "twelve") {
		t.Errorf("Get of a node holding text: %v; want ErrNotCounter showing the data", err)
	}
	if _, err := text.Add(ctx, 1); !errors.Is(err, recipes.ErrNotCounter) {
		t.Errorf("Add to a node holding text: %v; want ErrNotCounter", err)
	}
	if data, _, err := c.Get(ctx, "/text"); err != nil || string(data) != "twelve" {
		t.Errorf("the node after a refused Add: %q, %v", data, err)
	}
}
