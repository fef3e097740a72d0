package session

import (
	"strings"
	"testing"
	"time"
)

func TestNegotiate(t *testing.T) {
	const min, max = 4 * time.Second, 40 * time.Second
	for _, tc := range []struct {
		requested, want time.Duration
	}{
		{-time.Second, min},
		{0, min},
		{time.Millisecond, min},
		{min - time.Millisecond, min},
		{min, min},
		{10 * time.Second, 10 * time.Second},
		{max, max},
		{max + time.Millisecond, max},
		{time.Hour, max},
	} {
		if got := Negotiate(tc.requested, min, max); got != tc.want {
			t.Errorf("Negotiate(%v, %v, %v) = %v, want %v", tc.requested, min, max, got, tc.want)
		}
	}
	if got := Negotiate(time.Hour, time.Second, time.Second); got != time.Second {
		t.Errorf("Negotiate with min = max = 1s: %v", got)
	}
}

func TestNegotiateBadBoundsPanics(t *testing.T) {
	for _, tc := range []struct{ min, max time.Duration }{
		{0, time.Second},
		{-time.Second, time.Second},
		{2 * time.Second, time.Second},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Negotiate(_, %v, %v) did not panic", tc.min, tc.max)
				}
			}()
			Negotiate(time.Second, tc.min, tc.max)
		}()
	}
}

func TestLimitsValidate(t *testing.T) {
	good := DefaultLimits(2 * time.Second)
	if good.MinTimeout != 4*time.Second || good.MaxTimeout != 40*time.Second || good.MaxSessions != DefaultMaxSessions {
		t.Fatalf("DefaultLimits(2s) = %+v", good)
	}
	with := func(f func(*Limits)) Limits { l := good; f(&l); return l }
	for _, tc := range []struct {
		name string
		l    Limits
		want []string // substrings of the error; none means valid
	}{
		{"default", good, nil},
		{"min equals max", with(func(l *Limits) { l.MinTimeout = l.MaxTimeout }), nil},
		{"largest max", with(func(l *Limits) { l.MaxTimeout = MaxTimeout }), nil},
		{"zero tick", with(func(l *Limits) { l.Tick = 0 }), []string{"tick 0s must be positive"}},
		{"zero min", with(func(l *Limits) { l.MinTimeout = 0 }), []string{"min timeout 0s must be positive"}},
		{"negative min", with(func(l *Limits) { l.MinTimeout = -time.Second }), []string{"min timeout -1s must be positive"}},
		{"min above max", with(func(l *Limits) { l.MinTimeout = time.Minute }), []string{"min timeout 1m0s exceeds max timeout 40s"}},
		{"max too large", with(func(l *Limits) { l.MaxTimeout = MaxTimeout + time.Millisecond }), []string{"exceeds 596h31m23.647s"}},
		{"fractional ms", with(func(l *Limits) { l.MinTimeout = 4*time.Second + time.Microsecond }), []string{"whole milliseconds"}},
		{"zero sessions", with(func(l *Limits) { l.MaxSessions = 0 }), []string{"max sessions 0 must be positive"}},
		{"all wrong", Limits{MinTimeout: -1, MaxTimeout: -2}, []string{"tick", "min timeout -1ns must be positive", "exceeds max timeout", "whole milliseconds", "max sessions"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tc.l, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error", tc.l)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v) = %q, want it to mention %q", tc.l, err, w)
				}
			}
			if _, terr := NewTracker(tc.l); terr == nil {
				t.Errorf("NewTracker accepted limits that Validate rejects")
			}
		})
	}
}
