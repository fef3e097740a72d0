package ring_test

import (
	"fmt"

	"github.com/arbor-coord/arbor/recipes/ring"
)

// Assign keys to cache members, and count how many move when a member
// joins and when one leaves.
func Example() {
	r := ring.New(128)
	r.Set([]string{"cache-a", "cache-b", "cache-c", "cache-d"})
	owner, _ := r.Locate("user:42")
	fmt.Println("user:42 is on", owner, "replicas", r.LocateN("user:42", 2))

	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d", i)
	}
	joined := ring.New(128)
	joined.Set(append(r.Members(), "cache-e"))
	fmt.Printf("cache-e joins: %d of %d keys move\n", ring.Moved(r, joined, keys), len(keys))

	left := ring.New(128)
	left.Set(r.Members())
	left.Remove("cache-b")
	fmt.Printf("cache-b leaves: %d of %d keys move\n", ring.Moved(r, left, keys), len(keys))
	// About 1/5 of the keys move when a fifth member joins (all to it),
	// and about 1/4 when one of four leaves (only its own).

	// Output:
	// user:42 is on cache-a replicas [cache-a cache-d]
	// cache-e joins: 1937 of 10000 keys move
	// cache-b leaves: 2415 of 10000 keys move
}
