package raftnode

import (
	"context"
	"fmt"
	"log/slog"
)

// slogLogger adapts a *slog.Logger to raft.Logger. raft's Fatal and Panic
// both panic: a library must not exit the process. raft's Info lines (every
// vote and term step) go out at debug: the Node logs the role changes an
// operator needs at info itself.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Debug(v ...any)                 { s.l.Debug(fmt.Sprint(v...)) }
func (s slogLogger) Debugf(format string, v ...any) { s.debugf(format, v...) }
func (s slogLogger) Info(v ...any)                  { s.l.Debug(fmt.Sprint(v...)) }
func (s slogLogger) Infof(format string, v ...any)  { s.debugf(format, v...) }
func (s slogLogger) Warning(v ...any)               { s.l.Warn(fmt.Sprint(v...)) }
func (s slogLogger) Warningf(format string, v ...any) {
	s.l.Warn(fmt.Sprintf(format, v...))
}
func (s slogLogger) Error(v ...any)                 { s.l.Error(fmt.Sprint(v...)) }
func (s slogLogger) Errorf(format string, v ...any) { s.l.Error(fmt.Sprintf(format, v...)) }
func (s slogLogger) Fatal(v ...any)                 { s.panic(fmt.Sprint(v...)) }
func (s slogLogger) Fatalf(format string, v ...any) { s.panic(fmt.Sprintf(format, v...)) }
func (s slogLogger) Panic(v ...any)                 { s.panic(fmt.Sprint(v...)) }
func (s slogLogger) Panicf(format string, v ...any) { s.panic(fmt.Sprintf(format, v...)) }

// debugf formats only when debug logging is on: raft logs a lot at debug.
func (s slogLogger) debugf(format string, v ...any) {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.l.Debug(fmt.Sprintf(format, v...))
	}
}

func (s slogLogger) panic(msg string) {
	s.l.Error(msg)
	panic("raft: " + msg)
}
