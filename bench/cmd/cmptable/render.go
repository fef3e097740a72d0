package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// reference is the system every other one is compared with.
const reference = "arbor"

// knownSystems fixes the column order; other systems follow by name.
func knownSystems() []string {
	return []string{"arbor", "zookeeper", "etcd", "etcd-serializable"}
}

// knownWorkloads fixes the row order; other workloads follow by name.
func knownWorkloads() []string { return []string{"create", "set", "get", "mixed", "watch", "lock"} }

// rowKey is what makes results comparable: same workload, same cluster
// size, same load.
type rowKey struct {
	workload  string
	members   int
	clients   int
	rate      float64 // a fixed schedule's ops/s; 0 for a closed loop
	valueSize int
	watchers  int
}

func keyOf(r result) rowKey {
	k := rowKey{workload: r.Workload, members: r.Members, clients: r.Clients, rate: r.TargetRate, valueSize: r.ValueSize, watchers: r.Watchers}
	if r.Workload == "lock" {
		// A lock holds no data; a tool may report its default size anyway.
		k.valueSize = 0
	}
	if r.Workload != "watch" {
		k.watchers = 0
	}
	return k
}

// row is one line of the load table.
type row struct {
	key rowKey
	// runs holds each system's results for this row, in input order.
	runs map[string][]result
}

// pick returns the result a row shows for system: the median by throughput
// of the successful runs, else the last failed one; ok is false if there
// is none.
func (r *row) pick(system string) (result, bool) {
	runs := r.runs[system]
	if len(runs) == 0 {
		return result{}, false
	}
	var good []result
	for _, x := range runs {
		if !x.Failed {
			good = append(good, x)
		}
	}
	if len(good) == 0 {
		return runs[len(runs)-1], true
	}
	slices.SortStableFunc(good, func(a, b result) int { return cmp.Compare(a.OpsPerSec, b.OpsPerSec) })
	return good[(len(good)-1)/2], true
}

// systemsOf returns the systems present, in column order.
func systemsOf(names []string) []string {
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	var out []string
	for _, s := range knownSystems() {
		if seen[s] {
			out = append(out, s)
			delete(seen, s)
		}
	}
	rest := make([]string, 0, len(seen))
	for s := range seen {
		rest = append(rest, s)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// orderIndex places known names first, in their list's order.
func orderIndex(list []string, name string) int {
	if i := slices.Index(list, name); i >= 0 {
		return i
	}
	return len(list)
}

// buildRows groups the results into rows, in table order.
func buildRows(results []result) []*row {
	byKey := map[rowKey]*row{}
	var rows []*row
	for _, r := range results {
		k := keyOf(r)
		rw := byKey[k]
		if rw == nil {
			rw = &row{key: k, runs: map[string][]result{}}
			byKey[k] = rw
			rows = append(rows, rw)
		}
		rw.runs[r.System] = append(rw.runs[r.System], r)
	}
	slices.SortStableFunc(rows, func(a, b *row) int {
		return cmp.Or(
			cmp.Compare(orderIndex(knownWorkloads(), a.key.workload), orderIndex(knownWorkloads(), b.key.workload)),
			cmp.Compare(a.key.workload, b.key.workload),
			cmp.Compare(a.key.members, b.key.members),
			cmp.Compare(a.key.clients, b.key.clients),
			cmp.Compare(a.key.rate, b.key.rate),
			cmp.Compare(a.key.valueSize, b.key.valueSize),
			cmp.Compare(a.key.watchers, b.key.watchers),
		)
	})
	return rows
}

// render writes the markdown for everything in in.
func render(w io.Writer, in *input) {
	if in.machine != nil {
		renderMachine(w, in.machine)
	}
	if len(in.results) > 0 {
		renderLoad(w, in.results)
	}
	if len(in.footprints) > 0 {
		renderFootprint(w, in.footprints)
	}
	if in.machine == nil && len(in.results) == 0 && len(in.footprints) == 0 {
		fmt.Fprintln(w, "No results.")
	}
}

func renderMachine(w io.Writer, m *machine) {
	fmt.Fprintln(w, "| | |")
	fmt.Fprintln(w, "|---|---|")
	item := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "| %s | %s |\n", name, cell(value))
		}
	}
	item("date", m.Date)
	if m.Nproc > 0 {
		item("cores", fmt.Sprintf("%d (`nproc`)", m.Nproc))
	}
	item("CPU", m.CPU)
	item("memory", m.Memory)
	item("kernel", m.Kernel)
	item("filesystem of the data dirs", m.Filesystem)
	item("Go", m.Go)
	item("Java (ZooKeeper)", m.Java)
	item("zookeeper package", m.ZooKeeper)
	item("etcd-server package", m.Etcd)
	item("arbor commit", m.ArborCommit)
	fmt.Fprintln(w)
}

// renderLoad writes one table: a group of rows per workload and cluster
// size, one row per system, arbor's first, with arbor's ratios to the
// others on their rows.
func renderLoad(w io.Writer, results []result) {
	names := make([]string, len(results))
	for i, r := range results {
		names[i] = r.System
	}
	systems := systemsOf(names)
	writeHeader(w, []string{"workload", "members", "clients", "system", "ops/s", "p50 ms", "p99 ms",
		"arbor's ops/s ÷ this", "arbor's p99 ÷ this (lower is better)"}, "lrrlrrrrr")

	var problems []string
	for _, rw := range buildRows(results) {
		ref, refOK := rw.pick(reference)
		refOK = refOK && !ref.Failed
		first := true
		for _, s := range systems {
			r, ok := rw.pick(s)
			if !ok {
				continue
			}
			cells := []string{"", "", ""}
			if first {
				cells = []string{workloadLabel(rw.key), strconv.Itoa(rw.key.members), clientsLabel(rw.key)}
				first = false
			}
			cells = append(cells, displayName(s))
			switch {
			case r.Failed:
				cells = append(cells, "failed", "—", "—", "—", "—")
			default:
				rate := formatRate(r.OpsPerSec)
				if r.Errors > 0 {
					rate += fmt.Sprintf(" (%s errors)", formatInt(r.Errors))
				}
				cells = append(cells, rate, formatMs(r.P50Ms), formatMs(r.P99Ms))
				if s == reference {
					cells = append(cells, "", "")
				} else {
					cells = append(cells, ratioCell(refOK, ref.OpsPerSec, r.OpsPerSec), ratioCell(refOK, ref.P99Ms, r.P99Ms))
				}
			}
			if (r.Failed || r.Errors > 0) && r.FirstError != "" {
				problems = append(problems, fmt.Sprintf("%s, %s, %s: %s", displayName(s), workloadLabel(rw.key), membersLabel(rw.key.members), r.FirstError))
			}
			writeRow(w, cells)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ops/s counts the operations completed in the measured part (watch: writes whose change reached every watcher; lock: acquire + release); "+
		"p50 and p99 are in milliseconds (watch: from the write's acknowledgement to the last watcher's event). "+
		"The ratios divide arbor's figure by the figure on their row: above 1 favours arbor for ops/s, below 1 favours arbor for p99 (lower is better). "+
		"Where a system ran a row several times, its median run by ops/s is shown.")
	if slices.ContainsFunc(results, func(r result) bool { return r.TargetRate > 0 }) {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Clients \"N, at R/s\": the N clients started R operations per second in total on a fixed schedule, "+
			"the same for every system in the row, and each operation's latency counts from its scheduled time: "+
			"a system that falls behind the schedule shows fewer ops/s and pays for the wait in its latency. "+
			"These rows compare latency at equal load.")
	}
	if len(problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Errors:")
		fmt.Fprintln(w)
		for _, p := range problems {
			fmt.Fprintf(w, "- %s\n", oneLine(p))
		}
	}
	fmt.Fprintln(w)
}

// footprintMetric is one row of the footprint table.
type footprintMetric struct {
	name string
	// value returns the figure and whether the system has it.
	value  func(f footprint) (float64, bool)
	format func(v float64) string
	// lowerIsBetter says which way the ratio favours arbor.
	lowerIsBetter bool
	// noRatio leaves the ratio out (the row is context, not a score).
	noRatio bool
	// refValue, if not nil, is arbor's figure to divide by this row's
	// (for the JVM heap: arbor's RSS against ZooKeeper's live heap).
	refValue func(f footprint) (float64, bool)
}

func perNode(v int64, f footprint) (float64, bool) {
	if f.Nodes <= 0 || v <= 0 {
		return 0, false
	}
	return float64(v) / float64(f.Nodes), true
}

func positive(v float64) (float64, bool) { return v, v > 0 }

// footprintMetrics are the footprint table's rows, in order.
func footprintMetrics() []footprintMetric {
	return []footprintMetric{
		{name: "nodes held", value: func(f footprint) (float64, bool) { return positive(float64(f.Nodes)) },
			format: func(v float64) string { return formatInt(int64(v)) }, noRatio: true},
		{name: "fill rate, creates/s", value: func(f footprint) (float64, bool) { return positive(f.FillOpsPerSec) },
			format: formatRate},
		{name: "RSS", value: func(f footprint) (float64, bool) { return positive(float64(f.RSSBytes)) },
			format: formatBytes, lowerIsBetter: true},
		{name: "RSS per node", value: func(f footprint) (float64, bool) { return perNode(f.RSSBytes, f) },
			format: formatBytesPerNode, lowerIsBetter: true},
		{name: "JVM heap used after a full GC", value: func(f footprint) (float64, bool) {
			if f.HeapUsedBytes == nil {
				return 0, false
			}
			return positive(float64(*f.HeapUsedBytes))
		}, format: formatBytes, lowerIsBetter: true,
			refValue: func(f footprint) (float64, bool) { return positive(float64(f.RSSBytes)) }},
		{name: "JVM heap per node", value: func(f footprint) (float64, bool) {
			if f.HeapUsedBytes == nil {
				return 0, false
			}
			return perNode(*f.HeapUsedBytes, f)
		}, format: formatBytesPerNode, lowerIsBetter: true,
			refValue: func(f footprint) (float64, bool) { return perNode(f.RSSBytes, f) }},
		{name: "disk", value: func(f footprint) (float64, bool) { return positive(float64(f.DiskBytes)) },
			format: formatBytes, lowerIsBetter: true},
		{name: "disk per node", value: func(f footprint) (float64, bool) { return perNode(f.DiskBytes, f) },
			format: formatBytesPerNode, lowerIsBetter: true},
		{name: "restart after SIGKILL until serving", value: func(f footprint) (float64, bool) { return positive(f.RestartMs) },
			format: formatSeconds, lowerIsBetter: true},
	}
}

func renderFootprint(w io.Writer, fps []footprint) {
	byMembers := map[int]map[string]footprint{}
	var sizes []int
	var names []string
	for _, f := range fps {
		m := byMembers[f.Members]
		if m == nil {
			m = map[string]footprint{}
			byMembers[f.Members] = m
			sizes = append(sizes, f.Members)
		}
		m[f.System] = f // a later measurement replaces an earlier one
		names = append(names, f.System)
	}
	slices.Sort(sizes)
	systems := systemsOf(names)
	others := otherSystems(systems)
	hasRef := slices.Contains(systems, reference)

	var problems []string
	for _, size := range sizes {
		group := byMembers[size]
		var nodes int64
		valueSize := 0
		for _, f := range group {
			nodes = max(nodes, f.Nodes)
			valueSize = max(valueSize, f.ValueSize)
		}
		title := fmt.Sprintf("%s, %s nodes", membersLabel(size), formatInt(nodes))
		if valueSize > 0 {
			title += " of " + formatBytes(float64(valueSize))
		}
		head := []string{title}
		for _, s := range systems {
			head = append(head, displayName(s))
		}
		if hasRef {
			for _, o := range others {
				head = append(head, "arbor ÷ "+displayName(o))
			}
			head = append(head, "arbor better if the ratio is")
		}
		writeHeader(w, head, "l"+strings.Repeat("r", len(head)-1))
		for _, m := range footprintMetrics() {
			name := m.name
			if m.name == "restart after SIGKILL until serving" && size > 1 {
				name = "restart of a follower after SIGKILL until caught up and serving"
			}
			cells := []string{name}
			shown := false
			for _, s := range systems {
				f, ok := group[s]
				v, has := m.value(f)
				if !ok || !has {
					cells = append(cells, "—")
					continue
				}
				shown = true
				cells = append(cells, m.format(v))
			}
			if !shown {
				continue
			}
			if hasRef {
				refFP, refOK := group[reference]
				if m.noRatio {
					refOK = false
				}
				for _, o := range others {
					f, ok := group[o]
					v, has := m.value(f)
					var rv float64
					var rhas bool
					if m.refValue != nil {
						rv, rhas = m.refValue(refFP)
					} else {
						rv, rhas = m.value(refFP)
					}
					cells = append(cells, ratioCell(refOK && rhas && ok && has, rv, v))
				}
				switch {
				case m.noRatio:
					cells = append(cells, "")
				case m.lowerIsBetter:
					cells = append(cells, "below 1")
				default:
					cells = append(cells, "above 1")
				}
			}
			writeRow(w, cells)
		}
		fmt.Fprintln(w)
		for _, s := range systems {
			if f, ok := group[s]; ok && f.Error != "" {
				problems = append(problems, fmt.Sprintf("%s, %s: %s", displayName(s), membersLabel(size), f.Error))
			}
		}
	}
	fmt.Fprintln(w, "Measured after the fill (the create workload, kept) on one member: the only one, or the leader of three. "+
		"Per node is the figure divided by the nodes held. ZooKeeper's RSS follows the JVM's heap sizing, so its heap in use after a full GC is given too; "+
		"the ratio on those rows is arbor's RSS divided by that heap.")
	if len(problems) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Errors:")
		fmt.Fprintln(w)
		for _, p := range problems {
			fmt.Fprintf(w, "- %s\n", oneLine(p))
		}
	}
	fmt.Fprintln(w)
}

// otherSystems is systems without the reference.
func otherSystems(systems []string) []string {
	var out []string
	for _, s := range systems {
		if s != reference {
			out = append(out, s)
		}
	}
	return out
}

// clientsLabel is a row's clients cell: the count, and the schedule's
// rate for a fixed-rate run.
func clientsLabel(k rowKey) string {
	if k.rate > 0 {
		return fmt.Sprintf("%d, at %s/s", k.clients, formatRate(k.rate))
	}
	return strconv.Itoa(k.clients)
}

func displayName(system string) string {
	switch system {
	case "zookeeper":
		return "ZooKeeper"
	case "etcd-serializable":
		return "etcd, serializable reads"
	default:
		return system
	}
}

func membersLabel(n int) string {
	if n == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", n)
}

func workloadLabel(k rowKey) string {
	switch k.workload {
	case "lock":
		return "lock"
	case "watch":
		if k.watchers > 0 {
			return fmt.Sprintf("watch, %s watchers", formatInt(int64(k.watchers)))
		}
		return "watch"
	case "mixed":
		return "mixed (90% get), " + formatBytes(float64(k.valueSize))
	}
	if k.valueSize > 0 {
		return k.workload + ", " + formatBytes(float64(k.valueSize))
	}
	return k.workload
}

// ratioCell formats a ÷ b, or a dash when either is missing or b is zero.
func ratioCell(ok bool, a, b float64) string {
	if !ok || b <= 0 || a <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// writeHeader writes the head row and the alignment row: align has an 'l'
// for each left-aligned column, anything else aligns right.
func writeHeader(w io.Writer, head []string, align string) {
	writeRow(w, head)
	seps := make([]string, len(head))
	for i := range seps {
		if i < len(align) && align[i] == 'l' {
			seps[i] = "---"
		} else {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
}

func writeRow(w io.Writer, cells []string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

// cell makes s safe inside a markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// formatInt writes n with thousands separators: 1234567 → "1,234,567".
func formatInt(n int64) string {
	if n < 0 {
		return "-" + formatInt(-n)
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatRate writes a rate as a whole number, or with one decimal below 100.
func formatRate(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return formatInt(int64(v + 0.5))
}

// formatMs keeps about three significant digits.
func formatMs(v float64) string {
	switch {
	case v <= 0:
		return "0"
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return formatInt(int64(v + 0.5))
	}
}

func formatSeconds(ms float64) string {
	return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
}

// formatBytes uses binary units: 100 → "100 B", 1024 → "1 KiB".
func formatBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 || v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v+0.5), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func formatBytesPerNode(v float64) string {
	return fmt.Sprintf("%s B", formatInt(int64(v+0.5)))
}
