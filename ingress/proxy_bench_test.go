package ingress

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkProxyRequest drives small GET requests through a running proxy
// to a loopback backend over 64 keep-alive client connections, with the
// access log written to a file through slog as an agent writes it to its
// log, through the batched access log, and with the log level raised above
// it. The backend and the client share the process, so allocs/op include
// theirs.
func BenchmarkProxyRequest(b *testing.B) {
	for _, c := range []struct {
		name    string
		level   slog.Level
		batched bool
	}{{"access-log", slog.LevelInfo, false}, {"batched-access-log", slog.LevelInfo, true}, {"log-level-warn", slog.LevelWarn, false}} {
		b.Run(c.name, func(b *testing.B) { benchmarkProxyRequest(b, c.level, c.batched) })
	}
}

func benchmarkProxyRequest(b *testing.B, level slog.Level, batched bool) {
	body := []byte("kite ingress benchmark backend\n")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}))
	b.Cleanup(upstream.Close)
	logFile, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logFile.Close() })
	port := portOf(b, upstream.Listener.Addr())
	cfg := Config{Logger: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: level}))}
	if batched {
		cfg.AccessLog = logFile
	}
	p := runProxyConfig(b, cfg,
		newService("default", "web", "http", 80, int(port)),
		newSlice("default", "web", "web-1", "http", port, epReady, "127.0.0.1"),
		newIngress("default", "web", 0, className("kite"), rule("bench.example.com", "/", prefix, "web", 80)),
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + p.httpLn.Addr().String() + "/"

	b.ReportAllocs()
	b.SetParallelism(32) // 64 connections on the two cores this runs on
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Host = "bench.example.com"
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
