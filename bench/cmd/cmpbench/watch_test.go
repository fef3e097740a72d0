package main

import (
	"testing"
	"time"
)

func TestZkSeenAt(t *testing.T) {
	event, read := time.Unix(100, 0), time.Unix(101, 0)
	tests := []struct {
		last, read int64
		want       time.Time
	}{
		{4, 5, event}, // the event's change, and no other
		{4, 6, read},  // a second change landed between the event and the re-arm
		{4, 9, read},
	}
	for _, tt := range tests {
		if got := zkSeenAt(tt.last, tt.read, event, read); !got.Equal(tt.want) {
			t.Errorf("zkSeenAt(%d, %d) = %v, want %v", tt.last, tt.read, got, tt.want)
		}
	}
}
