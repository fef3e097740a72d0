package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sample is what compare.sh writes for one cluster size and one workload
// per system, a repeated arbor run, a failed run and a footprint.
const sample = `
{"kind":"machine","date":"2026-11-23","nproc":2,"cpu":"Intel(R) Xeon(R) Processor","memory":"23 GiB","kernel":"6.18.44","go":"go1.26.8 linux/amd64","zookeeper":"3.8.0-11+deb12u2","etcd":"3.4.23-4+b4","arbor_commit":"2f9daed"}
{"members":1,"system":"arbor","workload":"create","clients":64,"value_size":100,"watchers":0,"seconds":10.01,"ops":212345,"ops_per_sec":21213.1,"p50_ms":2.41,"p99_ms":13.2,"p999_ms":40.1,"max_ms":80.3,"errors":0,"first_error":""}
{"members":1,"system":"zookeeper","workload":"create","clients":64,"value_size":100,"watchers":0,"seconds":10,"ops":268000,"ops_per_sec":26800,"p50_ms":1.9,"p99_ms":6.6,"p999_ms":48,"max_ms":90,"errors":0,"first_error":""}
{"members":1,"system":"etcd","workload":"create","clients":64,"value_size":100,"watchers":0,"seconds":10,"ops":69000,"ops_per_sec":7070.7,"p50_ms":9.1,"p99_ms":26.4,"p999_ms":48,"max_ms":99,"errors":2,"first_error":"etcdserver: too many requests"}
{"members":3,"system":"arbor","workload":"get","clients":64,"value_size":1024,"watchers":0,"seconds":10,"ops":800000,"ops_per_sec":80000,"p50_ms":0.7,"p99_ms":4,"p999_ms":9,"max_ms":20,"errors":0,"first_error":""}
{"members":3,"system":"arbor","workload":"get","clients":64,"value_size":1024,"watchers":0,"seconds":10,"ops":600000,"ops_per_sec":60000,"p50_ms":0.9,"p99_ms":5,"p999_ms":9,"max_ms":20,"errors":0,"first_error":""}
{"members":3,"system":"arbor","workload":"get","clients":64,"value_size":1024,"watchers":0,"seconds":10,"ops":900000,"ops_per_sec":90000,"p50_ms":0.6,"p99_ms":3,"p999_ms":9,"max_ms":20,"errors":0,"first_error":""}
{"members":3,"system":"zookeeper","workload":"get","clients":64,"value_size":1024,"watchers":0,"seconds":10,"ops":400000,"ops_per_sec":40000,"p50_ms":1.2,"p99_ms":3.1,"p999_ms":9,"max_ms":20,"errors":0,"first_error":""}
{"members":3,"system":"etcd","workload":"get","clients":64,"value_size":1024,"failed":true,"first_error":"cmpbench exited with status 1"}
{"members":1,"system":"etcd","workload":"watch","clients":4,"value_size":100,"watchers":16,"seconds":2,"ops":2000,"ops_per_sec":1000,"p50_ms":0.5,"p99_ms":1,"p999_ms":1,"max_ms":1,"errors":0,"first_error":""}
{"members":1,"system":"arbor","workload":"lock","clients":8,"value_size":100,"watchers":0,"seconds":10,"ops":12000,"ops_per_sec":1200,"p50_ms":6,"p99_ms":12,"p999_ms":20,"max_ms":30,"errors":0,"first_error":""}
{"members":1,"system":"zookeeper","workload":"lock","clients":8,"value_size":0,"watchers":0,"seconds":10,"ops":7300,"ops_per_sec":730,"p50_ms":10,"p99_ms":24,"p999_ms":30,"max_ms":40,"errors":0,"first_error":""}
{"kind":"footprint","system":"arbor","members":1,"nodes":1000000,"value_size":100,"fill_ops_per_sec":20000,"rss_bytes":536870912,"disk_bytes":300000000,"restart_ms":800}
{"kind":"footprint","system":"zookeeper","members":1,"nodes":1000000,"value_size":100,"fill_ops_per_sec":25000,"rss_bytes":1073741824,"heap_used_bytes":268435456,"disk_bytes":900000000,"restart_ms":4000}
{"kind":"footprint","system":"etcd","members":1,"nodes":500000,"value_size":100,"fill_ops_per_sec":6000,"rss_bytes":268435456,"disk_bytes":150000000,"restart_ms":2000,"error":"fill stopped at 10m"}
`

func renderString(t *testing.T, text string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(nil, strings.NewReader(text), &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	return out.String()
}

// cells returns the cells of the table row whose first cell is first.
func cells(t *testing.T, out, first string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		parts := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if parts[0] == first {
			return parts
		}
	}
	t.Fatalf("no row %q in:\n%s", first, out)
	return nil
}

// loadRows returns the load table's rows by "workload/members/system",
// the group's labels carried down to its later rows.
func loadRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	var workload, members, clients string
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| workload |") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "| ") {
			break
		}
		parts := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if parts[0] != "" {
			workload, members, clients = parts[0], parts[1], parts[2]
		}
		parts[0], parts[1], parts[2] = workload, members, clients
		rows[workload+"/"+members+"/"+parts[3]] = parts
	}
	return rows
}

func TestLoadTable(t *testing.T) {
	out := renderString(t, sample)
	header := cells(t, out, "workload")
	want := []string{"workload", "members", "clients", "system", "ops/s", "p50 ms", "p99 ms",
		"arbor's ops/s ÷ this", "arbor's p99 ÷ this (lower is better)"}
	if strings.Join(header, "\n") != strings.Join(want, "\n") {
		t.Fatalf("header\n got %q\nwant %q", header, want)
	}
	if !strings.Contains(out, "|---|---:|---:|---|---:|") {
		t.Errorf("workload and system should be left-aligned:\n%s", out)
	}
	rows := loadRows(t, out)
	expect := [][]string{
		{"create, 100 B", "1", "64", "arbor", "21,213", "2.41", "13.2", "", ""},
		// 21213.1 / 26800 = 0.79; p99 13.2 / 6.6 = 2.00.
		{"create, 100 B", "1", "64", "ZooKeeper", "26,800", "1.90", "6.60", "0.79×", "2.00×"},
		// 21213.1 / 7070.7 = 3.00; 13.2 / 26.4 = 0.50.
		{"create, 100 B", "1", "64", "etcd", "7,071 (2 errors)", "9.10", "26.4", "3.00×", "0.50×"},
		// arbor's median of three runs is the 80,000 one.
		{"get, 1 KiB", "3", "64", "arbor", "80,000", "0.700", "4.00", "", ""},
		{"get, 1 KiB", "3", "64", "ZooKeeper", "40,000", "1.20", "3.10", "2.00×", "1.29×"},
		{"get, 1 KiB", "3", "64", "etcd", "failed", "—", "—", "—", "—"},
		// No arbor run in this row, so no ratios.
		{"watch, 16 watchers", "1", "4", "etcd", "1,000", "0.500", "1.00", "—", "—"},
		// The two lock rows join although the tools report different value sizes.
		{"lock", "1", "8", "arbor", "1,200", "6.00", "12.0", "", ""},
		{"lock", "1", "8", "ZooKeeper", "730", "10.0", "24.0", "1.64×", "0.50×"},
	}
	for _, w := range expect {
		key := w[0] + "/" + w[1] + "/" + w[3]
		got, ok := rows[key]
		if !ok {
			t.Errorf("no row %s in:\n%s", key, out)
			continue
		}
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("row %s\n got %q\nwant %q", key, got, w)
		}
	}
	if len(rows) != len(expect) {
		t.Errorf("%d rows, want %d:\n%s", len(rows), len(expect), out)
	}
	// Groups come in workload order, arbor first in each, whatever the input order.
	order := []string{"| create, 100 B | 1 | 64 | arbor |", "| get, 1 KiB | 3 | 64 | arbor |", "| watch, 16 watchers |", "| lock | 1 | 8 | arbor |"}
	last := -1
	for _, o := range order {
		i := strings.Index(out, o)
		if i < 0 || i < last {
			t.Errorf("row %q is missing or out of order", o)
		}
		last = i
	}
	for _, wantErr := range []string{"- etcd, create, 100 B, 1 member: etcdserver: too many requests", "- etcd, get, 1 KiB, 3 members: cmpbench exited with status 1"} {
		if !strings.Contains(out, wantErr) {
			t.Errorf("errors list lacks %q", wantErr)
		}
	}
	for _, m := range []string{"| cores | 2 (`nproc`) |", "| zookeeper package | 3.8.0-11+deb12u2 |", "| etcd-server package | 3.4.23-4+b4 |", "| date | 2026-11-23 |"} {
		if !strings.Contains(out, m) {
			t.Errorf("machine table lacks %q", m)
		}
	}
}

func TestFootprintTable(t *testing.T) {
	out := renderString(t, sample)
	header := cells(t, out, "1 member, 1,000,000 nodes of 100 B")
	want := []string{"1 member, 1,000,000 nodes of 100 B", "arbor", "ZooKeeper", "etcd", "arbor ÷ ZooKeeper", "arbor ÷ etcd", "arbor better if the ratio is"}
	if strings.Join(header, "\n") != strings.Join(want, "\n") {
		t.Fatalf("header\n got %q\nwant %q", header, want)
	}
	rows := [][]string{
		{"nodes held", "1,000,000", "1,000,000", "500,000", "—", "—", ""},
		{"fill rate, creates/s", "20,000", "25,000", "6,000", "0.80×", "3.33×", "above 1"},
		{"RSS", "512 MiB", "1 GiB", "256 MiB", "0.50×", "2.00×", "below 1"},
		// Per node divides by each system's own count: etcd holds half.
		{"RSS per node", "537 B", "1,074 B", "537 B", "0.50×", "1.00×", "below 1"},
		// arbor's RSS against ZooKeeper's live heap.
		{"JVM heap used after a full GC", "—", "256 MiB", "—", "2.00×", "—", "below 1"},
		{"disk", "286.1 MiB", "858.3 MiB", "143.1 MiB", "0.33×", "2.00×", "below 1"},
		{"disk per node", "300 B", "900 B", "300 B", "0.33×", "1.00×", "below 1"},
		{"restart after SIGKILL until serving", "0.80 s", "4.00 s", "2.00 s", "0.20×", "0.40×", "below 1"},
	}
	for _, r := range rows {
		got := cells(t, out, r[0])
		if strings.Join(got, "\n") != strings.Join(r, "\n") {
			t.Errorf("row %q\n got %q\nwant %q", r[0], got, r)
		}
	}
	if !strings.Contains(out, "- etcd, 1 member: fill stopped at 10m") {
		t.Errorf("footprint errors lack etcd's:\n%s", out)
	}
}

func TestFollowerRestartLabel(t *testing.T) {
	out := renderString(t, `{"kind":"footprint","system":"arbor","members":3,"nodes":10,"rss_bytes":1000,"disk_bytes":2000,"restart_ms":1500}`)
	got := cells(t, out, "restart of a follower after SIGKILL until caught up and serving")
	if got[1] != "1.50 s" {
		t.Errorf("restart cell %q, want 1.50 s", got[1])
	}
	// etcd's serializable variant gets its own row beside linearizable etcd.
	out = renderString(t, `{"system":"arbor","workload":"get","members":1,"clients":4,"value_size":1024,"ops_per_sec":9000,"p50_ms":1,"p99_ms":2}
{"system":"etcd-serializable","workload":"get","members":1,"clients":4,"value_size":1024,"ops_per_sec":6000,"p50_ms":1,"p99_ms":4}
{"system":"etcd","workload":"get","members":1,"clients":4,"value_size":1024,"ops_per_sec":3000,"p50_ms":1,"p99_ms":8}`)
	rows := loadRows(t, out)
	if got := rows["get, 1 KiB/1/etcd, serializable reads"]; len(got) < 9 || got[7] != "1.50×" {
		t.Errorf("serializable row %q", got)
	}
	if i, j := strings.Index(out, "| etcd |"), strings.Index(out, "| etcd, serializable reads |"); i < 0 || j < i {
		t.Errorf("serializable etcd should follow etcd:\n%s", out)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct{ in, want string }{
		{"not json", "stdin:1: not a JSON object"},
		{"\n{\"kind\":\"weird\"}", `stdin:2: unknown kind "weird"`},
		{`{"workload":"set"}`, `needs "system" and "workload"`},
		{`{"system":"arbor","workload":"set","members":0}`, "0 members"},
		{`{"kind":"footprint"}`, `a footprint needs "system"`},
		{`{"system":"arbor","workload":"set","ops_per_sec":"fast"}`, "not a result"},
	}
	for _, c := range cases {
		err := run(nil, strings.NewReader(c.in), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("input %q: error %v, want one containing %q", c.in, err, c.want)
		}
	}
	if err := run([]string{"-json"}, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unknown flag") {
		t.Errorf("a flag: error %v", err)
	}
	if err := run([]string{filepath.Join(t.TempDir(), "missing")}, nil, &bytes.Buffer{}); err == nil {
		t.Error("a missing file gave no error")
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	b := filepath.Join(dir, "b.jsonl")
	if err := os.WriteFile(a, []byte(`{"system":"arbor","workload":"set","members":1,"clients":4,"value_size":1024,"ops_per_sec":3000,"p50_ms":1,"p99_ms":2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(`{"system":"zookeeper","workload":"set","members":1,"clients":4,"value_size":1024,"ops_per_sec":2000,"p50_ms":1,"p99_ms":4}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{a, b}, nil, &out); err != nil {
		t.Fatal(err)
	}
	got := loadRows(t, out.String())["set, 1 KiB/1/ZooKeeper"]
	want := []string{"set, 1 KiB", "1", "4", "ZooKeeper", "2,000", "1.00", "4.00", "1.50×", "0.50×"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("row from two files\n got %q\nwant %q", got, want)
	}
}

// Runs on a fixed schedule form rows of their own, labelled with the rate,
// apart from closed-loop runs of the same workload and clients.
func TestFixedRateRows(t *testing.T) {
	in := `
{"members":3,"system":"arbor","workload":"get","clients":64,"value_size":1024,"seconds":10,"ops":800000,"ops_per_sec":80000,"p50_ms":0.7,"p99_ms":4,"p999_ms":9,"max_ms":20}
{"members":3,"system":"arbor","workload":"get","clients":64,"target_rate":20000,"value_size":1024,"seconds":10,"ops":200000,"ops_per_sec":19990,"p50_ms":0.3,"p99_ms":1,"p999_ms":2,"max_ms":5}
{"members":3,"system":"zookeeper","workload":"get","clients":64,"target_rate":20000,"value_size":1024,"seconds":10,"ops":200000,"ops_per_sec":19980,"p50_ms":0.5,"p99_ms":2,"p999_ms":4,"max_ms":9}
`
	out := renderString(t, in)
	if !strings.Contains(out, "| get, 1 KiB | 3 | 64 | arbor | 80,000 |") {
		t.Errorf("closed-loop row missing:\n%s", out)
	}
	if !strings.Contains(out, "| get, 1 KiB | 3 | 64, at 20,000/s | arbor | 19,990 |") {
		t.Errorf("fixed-rate row missing:\n%s", out)
	}
	// The fixed-rate ZooKeeper run compares with the fixed-rate arbor run: p99 1 / 2.
	if !strings.Contains(out, "|  |  |  | ZooKeeper | 19,980 | 0.500 | 2.00 | 1.00× | 0.50× |") {
		t.Errorf("ZooKeeper's fixed-rate row should compare with arbor's:\n%s", out)
	}
}
