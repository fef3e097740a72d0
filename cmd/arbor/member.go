package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/server"
)

// memberCommand is `arbor member list|add|promote|remove`: the admin API
// (server.MembersPath) on the members in --servers, tried in order until
// one (the leader, for a change) answers.
func memberCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "member",
		Usage: "list and change the cluster's members (runtime membership changes)",
		Description: "Changes go to the leader: each member in --servers is tried in turn. A new member joins as a learner " +
			"(start it with arbor server --join), is promoted to voter once caught up, and can be removed, the leader included.",
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "list the members: id, peer address, role, match (from the leader), leader",
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						return usagef("member list: takes no arguments")
					}
					return memberRequest(c, e, "GET", server.MembersPath, nil, false)
				},
			},
			{
				Name: "add", Usage: "add a member as a learner", ArgsUsage: "ID PEER_ADDR",
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return usagef("member add: want ID PEER_ADDR")
					}
					id, err := memberArg(c.Args().Get(0))
					if err != nil {
						return err
					}
					addr := c.Args().Get(1)
					if err := (server.Cluster{id: addr}).Validate(); err != nil {
						return usagef("member add: %v", err)
					}
					body, _ := json.Marshal(server.AddMemberRequest{ID: id, PeerAddr: addr})
					return memberRequest(c, e, "POST", server.MembersPath, body, true)
				},
			},
			{
				Name: "promote", Usage: "make a caught-up learner a voter", ArgsUsage: "ID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("member promote: want ID")
					}
					id, err := memberArg(c.Args().First())
					if err != nil {
						return err
					}
					return memberRequest(c, e, "POST", fmt.Sprintf("%s/%d/promote", server.MembersPath, id), nil, true)
				},
			},
			{
				Name: "remove", Usage: "remove a member (the leader too: it steps down and shuts down)", ArgsUsage: "ID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("member remove: want ID")
					}
					id, err := memberArg(c.Args().First())
					if err != nil {
						return err
					}
					return memberRequest(c, e, "DELETE", fmt.Sprintf("%s/%d", server.MembersPath, id), nil, true)
				},
			},
		},
	}
}

func memberArg(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usagef("member id %q: want a positive integer", s)
	}
	return id, nil
}

// memberRequest sends the request to each member of --servers in turn
// until one answers it (for a change, the leader: the others answer 421)
// and prints the member list it answers with.
func memberRequest(c *cli.Context, e *env, method, path string, body []byte, change bool) error {
	servers, err := parseServers(c.String("servers"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	var lastErr error
	for _, addr := range servers {
		code, b, err := adminCall(ctx, method, addr, path, body)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", addr, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if code == http.StatusOK {
			var members []server.MemberInfo
			if err := json.Unmarshal(b, &members); err != nil {
				return fmt.Errorf("member %s: %s answered %q: %w", c.Command.Name, addr, b, err)
			}
			return printMembers(c, e, members)
		}
		var ae struct {
			Error  string `json:"error"`
			Leader uint64 `json:"leader"`
		}
		_ = json.Unmarshal(b, &ae)
		if ae.Error == "" {
			ae.Error = strings.TrimSpace(string(b))
		}
		lastErr = fmt.Errorf("%s: %s", addr, ae.Error)
		if !change || (code != http.StatusMisdirectedRequest && code != http.StatusServiceUnavailable) {
			// A refusal by the leader: trying the others would not help.
			return fmt.Errorf("member %s: %s", c.Command.Name, ae.Error)
		}
	}
	if errors.Is(lastErr, context.DeadlineExceeded) {
		return fmt.Errorf("member %s: timed out (see --timeout): %v", c.Command.Name, lastErr)
	}
	if !change {
		return fmt.Errorf("member %s: no member of --servers answered: %v", c.Command.Name, lastErr)
	}
	return fmt.Errorf("member %s: no member of --servers could do it (the leader must be among them): %v", c.Command.Name, lastErr)
}

func printMembers(c *cli.Context, e *env, members []server.MemberInfo) error {
	if c.String("output") == "json" {
		if members == nil {
			members = []server.MemberInfo{}
		}
		return writeJSON(e.stdout, members)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPEER_ADDR\tROLE\tMATCH\tLEADER")
	for _, m := range members {
		match := "-"
		if m.Match != nil {
			match = strconv.FormatUint(*m.Match, 10)
		}
		leader := ""
		if m.IsLeader {
			leader = "*"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", m.ID, m.PeerAddr, m.Role, match, leader)
	}
	return tw.Flush()
}
