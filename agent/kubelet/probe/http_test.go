package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestHTTPProbe(t *testing.T) {
	var seen http.Header
	var seenHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		seen, seenHost = r.Header.Clone(), r.Host
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "secret details")
	})
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	mux.HandleFunc("/remote-redirect", func(w http.ResponseWriter, r *http.Request) {
		// Same server, other host name: not followed.
		http.Redirect(w, r, "http://localhost:"+r.URL.Port()+"/healthz", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 20<<10))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.RawQuery)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	_, tlsPortStr, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())
	tlsPort, _ := strconv.Atoi(tlsPortStr)
	refused := closedPort(t)
	container := &v1.Container{Name: "app", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}

	tests := []struct {
		name    string
		get     v1.HTTPGetAction
		timeout int32
		want    Result
		wantMsg string // exact, or prefix when it ends in "..."
	}{
		{name: "ok", get: v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port))}, want: Success, wantMsg: "ok"},
		{name: "named port", get: v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}, want: Success, wantMsg: "ok"},
		{name: "query string kept", get: v1.HTTPGetAction{Path: "/query?a=1&b=2", Port: intstr.FromInt32(int32(port))}, want: Success, wantMsg: "a=1&b=2"},
		{name: "server error", get: v1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, want: Failure, wantMsg: "HTTP probe failed with statuscode: 500"},
		{name: "redirect on same host followed", get: v1.HTTPGetAction{Path: "/local-redirect", Port: intstr.FromInt32(int32(port))}, want: Success, wantMsg: "ok"},
		{name: "redirect to other host not followed", get: v1.HTTPGetAction{Path: "/remote-redirect", Port: intstr.FromInt32(int32(port))}, want: Success, wantMsg: "Probe terminated redirects, Response body: ..."},
		{name: "redirect loop", get: v1.HTTPGetAction{Path: "/loop", Port: intstr.FromInt32(int32(port))}, want: Failure,
			wantMsg: `Get "/loop": stopped after 10 redirects`},
		{name: "https without verification", get: v1.HTTPGetAction{Path: "/healthz", Scheme: v1.URISchemeHTTPS, Port: intstr.FromInt32(int32(tlsPort))}, want: Success, wantMsg: "ok"},
		{name: "connection refused", get: v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(refused))}, want: Failure,
			wantMsg: fmt.Sprintf(`Get "http://127.0.0.1:%d/healthz": dial tcp 127.0.0.1:%d: connect: connection refused`, refused, refused)},
		{name: "timeout", get: v1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}, timeout: 1, want: Failure,
			wantMsg: fmt.Sprintf(`Get "http://%s:%d/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, host, port)},
		{name: "unknown named port", get: v1.HTTPGetAction{Path: "/", Port: intstr.FromString("metrics")}, want: Unknown, wantMsg: `port "metrics" not found`},
		{name: "port out of range", get: v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(70000)}, want: Unknown, wantMsg: "invalid port number: 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &tt.get}, TimeoutSeconds: tt.timeout}
			if p.TimeoutSeconds == 0 {
				p.TimeoutSeconds = 3
			}
			got, msg := Run(context.Background(), p, Target{PodIP: host, Container: container})
			if got != tt.want {
				t.Errorf("result = %v (%q), want %v", got, msg, tt.want)
			}
			if prefix, ok := strings.CutSuffix(tt.wantMsg, "..."); ok {
				if !strings.HasPrefix(msg, prefix) {
					t.Errorf("message = %q, want prefix %q", msg, prefix)
				}
			} else if msg != tt.wantMsg {
				t.Errorf("message = %q, want %q", msg, tt.wantMsg)
			}
		})
	}

	t.Run("headers", func(t *testing.T) {
		get := &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port)), HTTPHeaders: []v1.HTTPHeader{
			{Name: "Host", Value: "app.example.com"},
			{Name: "x-custom", Value: "1"},
			{Name: "X-Custom", Value: "2"},
		}}
		if got, msg := Run(context.Background(), &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: get}}, Target{PodIP: host, Container: container}); got != Success {
			t.Fatalf("got %v %q", got, msg)
		}
		if seenHost != "app.example.com" {
			t.Errorf("Host = %q", seenHost)
		}
		if ua := seen.Get("User-Agent"); ua != userAgent || !strings.HasPrefix(ua, "kube-probe") {
			t.Errorf("User-Agent = %q", ua)
		}
		if seen.Get("Accept") != "*/*" {
			t.Errorf("Accept = %q", seen.Get("Accept"))
		}
		if got := seen.Values("X-Custom"); len(got) != 2 {
			t.Errorf("X-Custom = %q, want both values", got)
		}
		if seen.Get("Accept-Encoding") != "" {
			t.Errorf("Accept-Encoding = %q, want none", seen.Get("Accept-Encoding"))
		}
	})

	t.Run("overridden user agent and empty accept", func(t *testing.T) {
		get := &v1.HTTPGetAction{Path: "/healthz", Host: "127.0.0.1", Port: intstr.FromInt32(int32(port)), HTTPHeaders: []v1.HTTPHeader{
			{Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: ""},
		}}
		// Host set in the action: the pod IP is not used.
		if got, msg := Run(context.Background(), &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: get}}, Target{PodIP: "192.0.2.1", Container: container}); got != Success {
			t.Fatalf("got %v %q", got, msg)
		}
		if seen.Get("User-Agent") != "mine" {
			t.Errorf("User-Agent = %q", seen.Get("User-Agent"))
		}
		if _, ok := seen["Accept"]; ok {
			t.Errorf("Accept = %q, want no header", seen.Get("Accept"))
		}
	})

	t.Run("body limited to 10 KiB", func(t *testing.T) {
		get := &v1.HTTPGetAction{Path: "/big", Port: intstr.FromInt32(int32(port))}
		got, msg := Run(context.Background(), &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: get}}, Target{PodIP: host, Container: container})
		if got != Success || len(msg) != 10<<10 {
			t.Errorf("got %v with %d bytes, want success with 10240", got, len(msg))
		}
	})
}
