package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Join a group, follow its membership, and leave.
func ExampleJoinGroup() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	const dir = "/services/search"
	g, err := recipes.WatchGroup(ctx, c, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close(ctx)

	a, err := recipes.JoinGroup(ctx, c, dir, "node-a", []byte("10.0.0.1:80"))
	if err != nil {
		log.Fatal(err)
	}
	// Changes coalesce: wait for the snapshot that has node-b too.
	b, err := recipes.JoinGroup(ctx, c, dir, "node-b", []byte("10.0.0.2:80"))
	if err != nil {
		log.Fatal(err)
	}
	for ms := range g.Changes() {
		if len(ms) == 2 {
			fmt.Println(recipes.MemberNames(ms))
			break
		}
	}
	if err := a.Leave(ctx); err != nil {
		log.Fatal(err)
	}
	for ms := range g.Changes() {
		if len(ms) == 1 {
			fmt.Printf("%s at %s\n", ms[0].Name, ms[0].Data)
			break
		}
	}
	_ = b.Leave(ctx)
	// Output:
	// [node-a node-b]
	// node-b at 10.0.0.2:80
}
