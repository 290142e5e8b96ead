package datastore

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	// serverLogLevel keeps etcd quiet: its info level narrates every raft
	// step, while warnings (slow fsync, slow applies, TLS rejections) are
	// what an operator needs to see.
	serverLogLevel = zapcore.WarnLevel
	// clientLogLevel is higher because the client warns about every failed
	// call, including the routine ones (a compacted revision behind a 410,
	// a failed compare-and-swap); callers get those errors and decide.
	clientLogLevel = zapcore.ErrorLevel
)

// newZapLogger returns a zap logger (what etcd and its client require) that
// writes through slog, so etcd's messages carry kite's format and a
// component attribute like every other part of the system.
func newZapLogger(component string, level zapcore.Level) *zap.Logger {
	return zap.New(&slogCore{
		handler: slog.Default().With("component", component).Handler(),
		level:   level,
	})
}

// slogCore is a zapcore.Core that forwards entries to a slog.Handler.
type slogCore struct {
	handler slog.Handler
	level   zapcore.LevelEnabler
	attrs   []slog.Attr // fields added with zap's With
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return c.level.Enabled(l) }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.attrs = append(slices.Clone(c.attrs), fieldsToAttrs(fields)...)
	return &clone
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	// Fields are not known yet, so only the message can demote here; Write
	// makes the final decision.
	level := slogLevel(e.Level)
	if benignMessages[e.Message] {
		level = slog.LevelDebug
	}
	if c.Enabled(e.Level) && c.handler.Enabled(context.Background(), level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slogLevel(e.Level)
	if benignMessages[e.Message] || isExpectedError(fields) {
		level = slog.LevelDebug
	}
	if !c.handler.Enabled(context.Background(), level) {
		return nil
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(c.attrs...)
	r.AddAttrs(fieldsToAttrs(fields)...)
	return c.handler.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// benignMessages are warnings etcd prints on every start of kite's
// configuration, which an operator can do nothing about: kite serves gRPC
// on the one client port by design, and etcd's own auth (and so its simple
// token) is off because clients authenticate with certificates.
var benignMessages = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

// isExpectedError reports whether an entry's error is one etcd logs in
// normal operation and recovers from by itself:
//   - a listener or server being closed: etcd logs its own orderly
//     shutdown as errors;
//   - a port already in use: Start returns that as a PortInUseError;
//   - "missing term information": on a fresh member that elects itself
//     within one backend commit interval, etcd's storage-version monitor
//     runs before the first commit, fails, and succeeds on its next run a
//     few seconds later. etcd has no sentinel error for it, hence the text.
func isExpectedError(fields []zapcore.Field) bool {
	for _, f := range fields {
		if f.Type != zapcore.ErrorType {
			continue
		}
		err, ok := f.Interface.(error)
		if !ok {
			continue
		}
		if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) || errors.Is(err, syscall.EADDRINUSE) ||
			strings.HasSuffix(err.Error(), "missing term information") {
			return true
		}
	}
	return false
}

// slogLevel maps zap's levels onto slog's four; zap's panic and fatal
// levels still panic or exit, because zap itself does that after Write.
func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// fieldsToAttrs renders zap fields with zap's own map encoder, which knows
// every field type (errors, durations, arrays, objects), and returns them
// sorted by key so log lines are stable.
func fieldsToAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return attrs
}
