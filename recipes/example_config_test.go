package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Watch a typed configuration value while it is written.
func ExampleWatchConfig() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	type Limits struct {
		MaxConns int    `json:"max_conns"`
		Mode     string `json:"mode"`
	}
	const path = "/config/limits"
	if _, err := recipes.SetConfig(ctx, c, path, Limits{MaxConns: 100, Mode: "normal"}, -1); err != nil {
		log.Fatal(err)
	}
	cfg, err := recipes.WatchConfig[Limits](ctx, c, path)
	if err != nil {
		log.Fatal(err)
	}
	defer cfg.Close(ctx)
	v, version, _ := cfg.Value()
	fmt.Printf("version %d: %+v\n", version, v)

	// A compare-and-set: the write applies only over version 0.
	if _, err := recipes.SetConfig(ctx, c, path, Limits{MaxConns: 500, Mode: "busy"}, version); err != nil {
		log.Fatal(err)
	}
	u := <-cfg.Updates()
	fmt.Printf("version %d: %+v\n", u.Version, u.Value)
	// Output:
	// version 0: {MaxConns:100 Mode:normal}
	// version 1: {MaxConns:500 Mode:busy}
}
