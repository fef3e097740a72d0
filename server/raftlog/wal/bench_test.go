//go:build linux

package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSync appends one record and syncs it, as a Ready that carries
// one small batch of entries does. "wal" writes over the zero-filled
// segment; "grow" is the same record appended to a file that grows, as a
// new file written without zero-filling (a fresh Pebble WAL) is, for
// comparison. cpu-µs/op is the process's CPU time per sync, kernel
// included, which is what a sync costs the rest of the member.
//
//	go test ./server/raftlog/wal -run '^$' -bench Sync -benchtime 20000x
func BenchmarkSync(b *testing.B) {
	for _, size := range []int{256, 4096} {
		rec := make([]byte, size)
		b.Run(fmt.Sprintf("wal/record=%d", size), func(b *testing.B) {
			w, err := Open(b.TempDir(), Options{}, func(Pos, []byte) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if err := w.Rotate(nil); err != nil {
				b.Fatal(err)
			}
			measure(b, func() error {
				if w.Full() {
					if err := w.Rotate(nil); err != nil {
						return err
					}
				}
				if _, err := w.Append(rec); err != nil {
					return err
				}
				return w.Sync()
			})
		})
		b.Run(fmt.Sprintf("grow/record=%d", size), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "grow"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			measure(b, func() error {
				if _, err := f.Write(rec); err != nil {
					return err
				}
				return syscall.Fdatasync(int(f.Fd()))
			})
		})
	}
}

func measure(b *testing.B, op func() error) {
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
