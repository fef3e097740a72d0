package conformance

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/arbor-coord/arbor/client"
)

// seqNumber returns the sequence number of a sequential node's path, given
// the prefix it was created with, failing the test if the suffix is not 10
// digits.
func seqNumber(t testing.TB, prefix, path string) int {
	t.Helper()
	suffix, ok := strings.CutPrefix(path, prefix)
	if !ok || !seqSuffix.MatchString(suffix) {
		t.Fatalf("sequential node %q: want %s and a 10-digit suffix", path, prefix)
	}
	n, err := strconv.Atoi(suffix)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSemanticsSequentialMonotonic checks that one client's sequential
// creates get 0, 1, 2, ... in call order, whatever the mode.
func TestSemanticsSequentialMonotonic(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	prefix := root + "/job-"
	modes := []client.CreateOption{
		client.WithMode(client.ModePersistentSequential),
		client.WithMode(client.ModeEphemeralSequential),
	}
	for i := range 20 {
		p, err := c.Create(ctxT(t), prefix, nil, modes[i%2])
		mustOK(t, err, "sequential create")
		if n := seqNumber(t, prefix, p); n != i {
			t.Fatalf("create %d got %q (number %d), want number %d", i, p, n, i)
		}
	}
}

// TestSemanticsSequentialConcurrent has several clients create sequential
// nodes under one parent at once: no name is given twice, the numbers are
// exactly 0..N-1, and each client's numbers increase in its call order.
func TestSemanticsSequentialConcurrent(t *testing.T) {
	const clients, each = 4, 25
	c0 := connect(t, nil)
	root := testRoot(t, c0)
	prefix := root + "/q-"

	got := make([][]string, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := connect(t, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				p, err := c.Create(ctxT(t), prefix, []byte(strconv.Itoa(i)), client.WithMode(client.ModePersistentSequential))
				if err != nil {
					errs[i] = err
					return
				}
				got[i] = append(got[i], p)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		mustOK(t, err, fmt.Sprintf("client %d's creates", i))
	}

	seen := map[int]int{}
	for i, paths := range got {
		last := -1
		for _, p := range paths {
			n := seqNumber(t, prefix, p)
			if other, dup := seen[n]; dup {
				t.Errorf("number %d given to client %d and client %d", n, other, i)
			}
			seen[n] = i
			if n <= last {
				t.Errorf("client %d got %d after %d: its creates did not apply in call order", i, n, last)
			}
			last = n
		}
	}
	for n := range clients * each {
		if _, ok := seen[n]; !ok {
			t.Errorf("number %d was never given (the numbers must be exactly 0..%d)", n, clients*each-1)
		}
	}
	// The creates went through other clients, maybe other members.
	mustOK(t, c0.Sync(ctxT(t), root), "sync")
	children, st, err := c0.Children(ctxT(t), root)
	mustOK(t, err, "children")
	if len(children) != clients*each || st.Cversion != clients*each {
		t.Errorf("parent has %d children and cversion %d, want %d of each", len(children), st.Cversion, clients*each)
	}
}

// TestSemanticsSequentialPerParent checks that each parent has its own
// counter: creates interleaved under two parents each count from 0.
func TestSemanticsSequentialPerParent(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	a := mustCreate(t, c, root+"/a", nil)
	b := mustCreate(t, c, root+"/b", nil)
	counts := map[string]int{}
	for i := range 10 {
		parent := a
		if i%3 == 0 {
			parent = b
		}
		p := mustCreate(t, c, parent+"/n-", nil, client.WithMode(client.ModePersistentSequential))
		if n := seqNumber(t, parent+"/n-", p); n != counts[parent] {
			t.Errorf("create %d under %s got number %d, want %d", i, parent, n, counts[parent])
		}
		counts[parent]++
	}
}

// TestSemanticsSequentialNoReuse checks that deleting children does not
// give their numbers out again: the counter is the parent's count of
// child creations (DATA-MODEL.md), which every create, sequential or not,
// raises and no delete lowers.
func TestSemanticsSequentialNoReuse(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	prefix := root + "/n-"
	var made []string
	for range 3 {
		made = append(made, mustCreate(t, c, prefix, nil, client.WithMode(client.ModePersistentSequential)))
	}
	mustCreate(t, c, root+"/plain", nil) // creation number 3
	for _, p := range append(made, root+"/plain") {
		mustOK(t, c.Delete(ctxT(t), p, -1), "delete "+p)
	}
	p := mustCreate(t, c, prefix, nil, client.WithMode(client.ModePersistentSequential))
	n := seqNumber(t, prefix, p)
	if n < 4 {
		t.Fatalf("after 4 creates and 4 deletes the next number is %d: numbers were reused", n)
	}
	if n != 4 {
		t.Errorf("after 4 creates and 4 deletes the next number is %d, want 4 (DATA-MODEL.md: the count of child creations)", n)
	}
	children, _, err := c.Children(ctxT(t), root)
	mustOK(t, err, "children")
	sort.Strings(children)
	if fmt.Sprint(children) != fmt.Sprintf("[n-%010d]", n) {
		t.Errorf("children %v", children)
	}
}

// TestSemanticsSequentialNameTaken checks that a sequential create whose
// name was taken by a node created by hand is NodeExists and changes
// nothing.
func TestSemanticsSequentialNameTaken(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	mustCreate(t, c, root+"/n-0000000001", nil) // creation 0 takes the name creation 1 would get
	before := snapshots(t, c, root)
	_, err := c.Create(ctxT(t), root+"/n-", nil, client.WithMode(client.ModePersistentSequential))
	wantErr(t, err, client.ErrNodeExists, "sequential create of a name taken by hand")
	unchanged(t, c, before, "a sequential create that was NodeExists")
}
