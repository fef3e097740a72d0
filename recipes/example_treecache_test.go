package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Mirror a subtree locally and follow its changes.
func ExampleNewTreeCache() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	if _, err := c.Create(ctx, "/app/flags/dark-mode", []byte("on"), client.WithParents()); err != nil {
		log.Fatal(err)
	}
	tc, err := recipes.NewTreeCache(ctx, c, "/app")
	if err != nil {
		log.Fatal(err)
	}
	defer tc.Close(ctx)
	data, _, _ := tc.Get("/app/flags/dark-mode")
	fmt.Printf("dark-mode=%s\n", data)

	if _, err := c.Create(ctx, "/app/flags/beta", []byte("off")); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Set(ctx, "/app/flags/dark-mode", []byte("off"), -1); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		ev := <-tc.Events()
		fmt.Println(ev.Type, ev.Path, string(ev.Data))
	}
	names, _ := tc.Children("/app/flags")
	fmt.Println(names)
	// Output:
	// dark-mode=on
	// NodeAdded /app/flags/beta off
	// NodeUpdated /app/flags/dark-mode off
	// [beta dark-mode]
}
