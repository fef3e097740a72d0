package server

import (
	"errors"
	"slices"
	"testing"
)

func TestTouchesRoundTrip(t *testing.T) {
	for _, ids := range [][]int64{{}, {1}, {1<<63 - 1, 0x0100000000000005, 7}} {
		b := appendTouches(nil, ids)
		if b[0] != peerTouches {
			t.Fatalf("kind %d", b[0])
		}
		got, err := decodeTouches(b[1:])
		if err != nil || !slices.Equal(got, ids) {
			t.Fatalf("%v: got %v, %v", ids, got, err)
		}
	}
}

func TestTouchesMalformed(t *testing.T) {
	good := appendTouches(nil, []int64{5, 6})[1:]
	for name, b := range map[string][]byte{
		"empty":           {},
		"count past data": {3, 5, 6},
		"truncated id":    {1, 0x80},
		"id zero":         {1, 0},
		"trailing bytes":  append(slices.Clone(good), 9),
		"huge count":      {0xff, 0xff, 0xff, 0xff, 0x0f},
		"id past int64":   {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if _, err := decodeTouches(b); !errors.Is(err, errBadPeerMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
