package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"kite/ingress"
)

// Where the node's built-in ingress listens, and where its metrics are
// (ingress-nginx's metrics port, on loopback only).
const (
	ingressHTTPAddr    = ":80"
	ingressHTTPSAddr   = ":443"
	ingressMetricsAddr = "127.0.0.1:10254"
	// ingressRetry is how long a node waits before trying again to take
	// :80 and :443 when something else holds them.
	ingressRetry = 10 * time.Second
)

// runIngress serves the cluster's Ingresses of class kite on this node. A
// port held by another program is logged and retried rather than taking
// the node down: pods and Services matter more than the ingress.
func runIngress(ctx context.Context, client kubernetes.Interface, nodeName string) error {
	log := slog.Default().With("component", "ingress")
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kite-ingress", Host: nodeName})

	for {
		proxy, err := ingress.New(ingress.Config{
			Client:    client,
			HTTPAddr:  ingressHTTPAddr,
			HTTPSAddr: ingressHTTPSAddr,
			Recorder:  recorder,
			Logger:    slog.Default(), // the proxy adds its component itself
			// The access log goes to the same stderr as kite's own log,
			// in its format, batched: one write per request cost more
			// than a tenth of what proxying the request does.
			AccessLog: os.Stderr,
		})
		if err != nil {
			return err
		}
		metrics := &http.Server{Addr: ingressMetricsAddr, Handler: proxy.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := metrics.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("ingress metrics not served", "address", ingressMetricsAddr, "err", err)
			}
		}()
		err = proxy.Run(ctx)
		_ = metrics.Close()
		if err == nil || ctx.Err() != nil {
			return nil
		}
		log.Error("ingress not serving; retrying", "err", err, "retry", ingressRetry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(ingressRetry):
		}
	}
}
