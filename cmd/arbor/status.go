package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/server"
)

// statusCommand is `arbor status`: each member's part in the cluster and
// how far it has got, from every server of --servers.
func statusCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show each member's role, term, commit and applied index, sessions, watches and state digest",
		UsageText: "arbor [--servers HOST:PORT,...] [--output text|json] status [--digest=false]",
		Description: "Asks every server of --servers (their client addresses) for its status. " +
			"Members that applied the same log show the same digest. Exits 1 if a server does not answer.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "digest", Usage: "compute each member's state digest (reads its whole state)", Value: true},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("status takes no arguments, got %q", c.Args().Slice())
			}
			servers, err := parseServers(c.String("servers"))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			rows := make([]statusRow, len(servers))
			for i, addr := range servers {
				rows[i].Server = addr
				st, err := fetchStatus(ctx, addr, c.Bool("digest"))
				if err != nil {
					rows[i].Error = err.Error()
					continue
				}
				rows[i].Status = &st
			}
			if c.String("output") == "json" {
				err = writeJSON(e.stdout, rows)
			} else {
				err = writeStatusTable(e.stdout, rows)
			}
			if err != nil {
				return err
			}
			var failed []string
			for _, r := range rows {
				if r.Error != "" {
					failed = append(failed, r.Server)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("status: no answer from %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
}

// statusRow is one server's answer.
type statusRow struct {
	Server string `json:"server"`
	*server.Status
	Error string `json:"error,omitempty"`
}

func fetchStatus(ctx context.Context, addr string, digest bool) (server.Status, error) {
	code, body, err := adminCall(ctx, http.MethodGet, addr, fmt.Sprintf("%s?digest=%t", server.StatusPath, digest), nil)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return server.Status{}, errors.New("timed out (see --timeout)")
	case err != nil:
		return server.Status{}, err
	case code != http.StatusOK:
		return server.Status{}, fmt.Errorf("%d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(body)))
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return server.Status{}, fmt.Errorf("not an arbor status: %w", err)
	}
	return st, nil
}

func writeStatusTable(w io.Writer, rows []statusRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tMEMBER\tROLE\tTERM\tCOMMIT\tAPPLIED\tSESSIONS\tWATCHES\tDIGEST")
	var unreachable []statusRow
	for _, r := range rows {
		if r.Status == nil {
			fmt.Fprintf(tw, "%s\t-\tunreachable\t-\t-\t-\t-\t-\t-\n", r.Server)
			unreachable = append(unreachable, r)
			continue
		}
		s := r.Status
		digest := s.Digest
		if digest == "" {
			digest = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Server, s.ID, s.Role, s.Term, s.Commit, s.Applied, s.Sessions, s.Watches, digest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range unreachable {
		if _, err := fmt.Fprintf(w, "%s: %s\n", r.Server, oneLine(r.Error)); err != nil {
			return err
		}
	}
	return nil
}
