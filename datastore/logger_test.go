package datastore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func testLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func TestSlogCore(t *testing.T) {
	tests := []struct {
		name    string
		log     func(l *zap.Logger)
		want    []string // substrings of the output
		wantOut bool
	}{
		{
			name:    "info is dropped",
			log:     func(l *zap.Logger) { l.Info("raft chatter") },
			wantOut: false,
		},
		{
			name: "warn passes with fields",
			log: func(l *zap.Logger) {
				l.Warn("slow fsync", zap.Duration("took", 2*time.Second), zap.String("path", "/db"))
			},
			want:    []string{"level=WARN", `msg="slow fsync"`, "component=etcd", "took=2s", "path=/db"},
			wantOut: true,
		},
		{
			name:    "error with error field",
			log:     func(l *zap.Logger) { l.Error("failed", zap.Error(errors.New("boom"))) },
			want:    []string{"level=ERROR", "error=boom"},
			wantOut: true,
		},
		{
			name:    "benign start warning is demoted",
			log:     func(l *zap.Logger) { l.Warn("simple token is not cryptographically signed") },
			wantOut: false,
		},
		{
			name: "closed listener at shutdown is demoted",
			log: func(l *zap.Logger) {
				l.Error("setting up serving from embedded etcd failed.", zap.Error(&net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}))
			},
			wantOut: false,
		},
		{
			name: "closed http server at shutdown is demoted",
			log: func(l *zap.Logger) {
				l.Error("setting up serving from embedded etcd failed.", zap.Error(fmt.Errorf("serve: %w", http.ErrServerClosed)))
			},
			wantOut: false,
		},
		{
			name: "first-start storage version race is demoted",
			log: func(l *zap.Logger) {
				l.Error("failed to update storage version", zap.Error(fmt.Errorf("cannot detect storage schema version: %w", errors.New("missing term information"))))
			},
			wantOut: false,
		},
		{
			name:    "with fields and named logger",
			log:     func(l *zap.Logger) { l.Named("raft").With(zap.Int("term", 3)).Warn("lost leader") },
			want:    []string{"logger=raft", "term=3", `msg="lost leader"`},
			wantOut: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
			defer slog.SetDefault(prev)

			tt.log(newZapLogger("etcd", serverLogLevel))
			out := buf.String()
			if (out != "") != tt.wantOut {
				t.Fatalf("output %q, want output=%v", out, tt.wantOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
}
