package main

import (
	"log/slog"
	"os"

	"k8s.io/klog/v2"
)

// setupLogging makes slog's default logger the one sink for kite's own
// logs and for the klog calls inside client-go and other Kubernetes
// libraries, so operators read one format on stderr.
func setupLogging() {
	handler := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	slog.SetDefault(slog.New(handler))
	// klog keeps filtering by its own -v level before handing records on,
	// so chatty V(4) library logs stay off.
	klog.SetSlogLogger(slog.New(handler).With("component", "klog"))
}
