package ingress

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The batched access log writes what the proxy's Logger with a text
// handler would: same fields, same quoting.
func TestAccessLogMatchesSlogText(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	for _, e := range []accessEntry{
		{ingress: "default/site", host: "shop.example.com", method: "GET", path: "/api/orders", status: 200,
			duration: 1234567 * time.Nanosecond, upstream: "10.42.0.7:8080", client: "192.0.2.1:50123"},
		{ingress: "", host: "", method: "POST", path: "/with space/and=equals/\"quote\"/é/\x01", status: 499,
			duration: 0, upstream: "", client: "[2001:db8::1]:443"},
	} {
		var want bytes.Buffer
		slogger := slog.New(slog.NewTextHandler(&want, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					a.Value = slog.TimeValue(now)
				}
				return a
			},
		})).With("component", "ingress")
		slogger.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("ingress", e.ingress), slog.String("host", e.host), slog.String("method", e.method),
			slog.String("path", e.path), slog.Int("status", e.status), slog.Duration("duration", e.duration),
			slog.String("upstream", e.upstream), slog.String("client", e.client))

		var got bytes.Buffer
		l := newAccessLog(&got)
		l.record(now, &e)
		if got.Len() != 0 {
			t.Error("a single line was written before a flush")
		}
		l.flush()
		if got.String() != want.String() {
			t.Errorf("access log line\n got %q\nwant %q", got.String(), want.String())
		}
	}
}

// writeRecorder keeps every write separately.
type writeRecorder struct{ writes []string }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestAccessLogWritesWholeLinesWithinBound(t *testing.T) {
	out := &writeRecorder{}
	l := newAccessLog(out)
	e := accessEntry{ingress: "default/site", host: "h", method: "GET", path: strings.Repeat("p", 1000), status: 200, upstream: "u", client: "c"}
	for range 20 {
		l.record(time.Now(), &e)
	}
	long := e
	long.path = strings.Repeat("q", 2*accessLogBufferSize)
	l.record(time.Now(), &long)
	l.record(time.Now(), &e)
	l.flush()
	lines := 0
	for i, w := range out.writes {
		if !strings.HasSuffix(w, "\n") {
			t.Errorf("write %d does not end a line", i)
		}
		n := strings.Count(w, "\n")
		lines += n
		if len(w) > accessLogBufferSize && n > 1 {
			t.Errorf("write %d has %d bytes in %d lines, over the %d-byte bound", i, len(w), n, accessLogBufferSize)
		}
	}
	if lines != 22 || len(out.writes) < 6 || len(out.writes) > 12 {
		t.Errorf("%d lines in %d writes, want 22 lines batched a few per write", lines, len(out.writes))
	}
}

func TestProxyBatchedAccessLog(t *testing.T) {
	_, port := startEcho(t, "web")
	logs := &logBuffer{}
	p := runProxyConfig(t, Config{Logger: discardLogger(), AccessLog: logs},
		newService("default", "web", "http", 80, int(port)),
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "site", 0, className("kite"), rule("shop.example.com", "/", prefix, "web", 80)),
	)
	if resp, _ := get(t, p, "shop.example.com", "/logged", nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitFor(t, "batched access log line", func() bool {
		return strings.Contains(logs.String(), "msg=request component=ingress ingress=default/site host=shop.example.com method=GET path=/logged status=200")
	})
}
