package history

import (
	"testing"
	"time"
)

type writeOp = Op[string, uint64]

func write(c int, call, ret time.Duration, path string, zxid uint64, o Outcome) writeOp {
	return writeOp{Client: c, Input: path, Call: call, Return: ret, Output: zxid, Outcome: o}
}

// live and catchUp build events of type changed.
func live(path string, zxid uint64, at time.Duration) WatchEvent {
	return WatchEvent{Type: "changed", Path: path, Zxid: zxid, At: at}
}

func catchUp(path string, zxid uint64, at time.Duration) WatchEvent {
	return WatchEvent{Type: "changed", Path: path, Zxid: zxid, CatchUp: true, At: at}
}

func watcher(name string, start, end time.Duration, events ...WatchEvent) Watcher {
	return Watcher{Name: name, Start: start, End: end, Events: events}
}

func TestCheckWatches(t *testing.T) {
	writes := []writeOp{
		write(1, 0, 1, "/w/a", 5, OK), // setup, before every watcher
		write(1, 2, 3, "/w/a", 10, OK),
		write(1, 4, 5, "/w/b", 11, OK),
		write(1, 6, 7, "/w/a", 12, OK),
		write(1, 8, 9, "/w/c", 0, Unknown), // applied as 13
		write(2, 8, 9, "/w/b", 0, Fail),
		write(1, 10, 11, "/w/b", 14, OK),
		write(1, 12, 13, "/w/a", 15, OK),
	}
	all := watcher("all", 1, 100,
		live("/w/a", 10, 3), live("/w/b", 11, 5), live("/w/a", 12, 7),
		live("/w/c", 13, 9), live("/w/b", 14, 11), live("/w/a", 15, 13))
	disconnected := watcher("disconnected", 1, 100,
		live("/w/a", 10, 3),
		catchUp("/w/b", 14, 12), catchUp("/w/a", 12, 12), catchUp("/w/c", 13, 12), // lower than 14: fine
		live("/w/a", 15, 13))
	disconnected.Lost, disconnected.Resumed = []time.Duration{4}, []time.Duration{12}

	tests := []struct {
		name     string
		watchers []Watcher
		want     []string
		mention  []string
	}{
		{"clean", []Watcher{all, disconnected,
			watcher("late", 12, 20, live("/w/a", 15, 13)),
			watcher("early", 1, 4, live("/w/a", 10, 3)),
			watcher("setup event", 0, 4, live("/w/a", 5, 2), live("/w/a", 10, 3)),
		}, nil, nil},
		{"no watchers", nil, nil, nil},
		{"phantom zxid", []Watcher{watcher("p", 1, 4, live("/w/a", 10, 3), live("/w/a", 99, 3))},
			[]string{"phantom"}, []string{"watcher p event 1 (changed /w/a zxid 99 at 3ns): no write to /w/a has zxid 99"}},
		{"zxid of another path", []Watcher{watcher("p", 1, 4, live("/w/a", 10, 3), live("/w/a", 11, 3))},
			[]string{"phantom"}, []string{"zxid 11 was op 2 (client 1 \"/w/b\""}},
		{"phantom catch-up", []Watcher{watcher("p", 1, 4, live("/w/a", 10, 3), catchUp("/w/a", 98, 3))},
			[]string{"phantom"}, []string{"catch-up /w/a zxid 98"}},
		{"any zxid on a path with indeterminate writes", []Watcher{watcher("p", 1, 4, live("/w/a", 10, 3), live("/w/c", 77, 3))},
			nil, nil},
		{"duplicate", []Watcher{watcher("d", 1, 4, live("/w/a", 10, 3), live("/w/a", 10, 4))},
			[]string{"duplicate"}, []string{"event 1 (changed /w/a zxid 10 at 4ns) repeats watcher d event 0"}},
		{"a catch-up repeat is no duplicate", []Watcher{watcher("d", 1, 4, live("/w/a", 10, 3), catchUp("/w/a", 10, 4))},
			nil, nil},
		{"out of order", []Watcher{watcher("o", 1, 6, live("/w/b", 11, 5), live("/w/a", 10, 5))},
			[]string{"order"}, []string{"event 1 (changed /w/a zxid 10 at 5ns) arrived after watcher o event 0 (changed /w/b zxid 11"}},
		{"order against the highest, not the last", []Watcher{watcher("o", 1, 100,
			live("/w/a", 10, 3), live("/w/a", 12, 7), live("/w/b", 11, 7), live("/w/c", 13, 9),
			live("/w/b", 14, 11), live("/w/a", 15, 13))},
			[]string{"order"}, []string{"event 2 ", "after watcher o event 1 "}},
		{"missed", []Watcher{watcher("m", 1, 6, live("/w/a", 10, 3))},
			[]string{"missed"}, []string{"watcher m (1ns to 6ns) missed op 2 (client 1 \"/w/b\" [4ns, 5ns] -> 11)"}},
		{"missed while disconnected", []Watcher{func() Watcher {
			w := watcher("m", 1, 6, live("/w/a", 10, 3))
			w.Lost, w.Resumed = []time.Duration{1, 4}, []time.Duration{2}
			return w
		}()}, []string{"missed"}, []string{"; disconnected from 4ns, never resumed"}},
		{"catch-up too old", []Watcher{watcher("m", 1, 12,
			live("/w/a", 10, 3), catchUp("/w/b", 11, 11), live("/w/a", 12, 7), live("/w/c", 13, 9))},
			[]string{"missed"}, []string{"missed op 6 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkViolations(t, CheckWatches(writes, tt.watchers), tt.want, tt.mention)
		})
	}
}

func TestOutagesDuring(t *testing.T) {
	w := Watcher{Lost: []time.Duration{10, 30, 50}, Resumed: []time.Duration{20, 40}}
	tests := []struct {
		from, to time.Duration
		want     string
	}{
		{0, 5, ""},
		{21, 29, ""},
		{5, 15, "; disconnected 10ns to 20ns"},
		{15, 35, "; disconnected 10ns to 20ns; disconnected 30ns to 40ns"},
		{45, 60, "; disconnected from 50ns, never resumed"},
	}
	for _, tt := range tests {
		if got := w.outagesDuring(tt.from, tt.to); got != tt.want {
			t.Errorf("outagesDuring(%v, %v) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}
