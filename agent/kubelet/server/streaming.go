package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

// streamTarget is what a streaming URL names:
// /<kind>/<namespace>/<pod>[/<uid>]/<container>, without the container
// for portForward.
type streamTarget struct {
	namespace, pod, uid, container string
}

func parseStreamPath(path, kind string, withContainer bool) (streamTarget, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"+kind+"/"), "/")
	for _, p := range parts {
		if p == "" {
			return streamTarget{}, false
		}
	}
	t := streamTarget{}
	switch {
	case withContainer && len(parts) == 3:
		t.namespace, t.pod, t.container = parts[0], parts[1], parts[2]
	case withContainer && len(parts) == 4:
		t.namespace, t.pod, t.uid, t.container = parts[0], parts[1], parts[2], parts[3]
	case !withContainer && len(parts) == 2:
		t.namespace, t.pod = parts[0], parts[1]
	case !withContainer && len(parts) == 3:
		t.namespace, t.pod, t.uid = parts[0], parts[1], parts[2]
	default:
		return streamTarget{}, false
	}
	return t, true
}

// streamOptions are the exec and attach query flags. Towards a kubelet
// they are named input/output/error/tty (not the stdin/stdout/... of the
// API's PodExecOptions); the API server sends "1", a client talking to a
// kubelet directly may send "true".
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

func parseStreamOptions(q url.Values) (streamOptions, error) {
	flag := func(name string) bool { v := q.Get(name); return v == "1" || v == "true" }
	o := streamOptions{stdin: flag(corev1.ExecStdinParam), stdout: flag(corev1.ExecStdoutParam), stderr: flag(corev1.ExecStderrParam), tty: flag(corev1.ExecTTYParam)}
	if o.tty && o.stderr {
		// A terminal merges stderr into stdout.
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, fmt.Errorf("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// podSelector selects a pod's sandboxes or containers by their CRI labels.
func (t streamTarget) podSelector() map[string]string {
	sel := map[string]string{crilabels.PodNamespace: t.namespace, crilabels.PodName: t.pod}
	if t.uid != "" {
		sel[crilabels.PodUID] = t.uid
	}
	return sel
}

// findContainer returns the ID of the running container t names.
func (s *Server) findContainer(ctx context.Context, t streamTarget) (string, error) {
	sel := t.podSelector()
	sel[crilabels.ContainerName] = t.container
	list, err := s.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{
		LabelSelector: sel,
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	})
	if err != nil {
		return "", fmt.Errorf("listing containers: %w", err)
	}
	var newest *runtimeapi.Container
	for _, c := range list {
		if newest == nil || c.GetCreatedAt() > newest.GetCreatedAt() {
			newest = c
		}
	}
	if newest == nil {
		return "", errNotFound(fmt.Sprintf("container not found (%q)", t.container))
	}
	return newest.GetId(), nil
}

// findSandbox returns the ID of the ready sandbox of the pod t names.
func (s *Server) findSandbox(ctx context.Context, t streamTarget) (string, error) {
	list, err := s.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{
		LabelSelector: t.podSelector(),
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	})
	if err != nil {
		return "", fmt.Errorf("listing pod sandboxes: %w", err)
	}
	var newest *runtimeapi.PodSandbox
	for _, sb := range list {
		if newest == nil || sb.GetCreatedAt() > newest.GetCreatedAt() {
			newest = sb
		}
	}
	if newest == nil {
		return "", errNotFound(fmt.Sprintf("pod not found (%q)", t.namespace+"/"+t.pod))
	}
	return newest.GetId(), nil
}

// errNotFound is a lookup failure answered with 404.
type errNotFound string

func (e errNotFound) Error() string { return string(e) }

func streamError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if _, ok := err.(errNotFound); ok {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

// serveExec and serveAttach ask the runtime for a streaming URL and proxy
// the client's upgraded connection to it, as the kubelet does in its
// default (proxy) streaming mode.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	s.serveContainerStream(w, r, "exec", func(ctx context.Context, id string, o streamOptions) (string, error) {
		cmd := r.URL.Query()["command"]
		if len(cmd) == 0 {
			return "", fmt.Errorf("no command given")
		}
		resp, err := s.cfg.Runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: cmd, Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr})
		return resp.GetUrl(), err
	})
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	s.serveContainerStream(w, r, "attach", func(ctx context.Context, id string, o streamOptions) (string, error) {
		resp, err := s.cfg.Runtime.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Tty: o.tty, Stdin: o.stdin, Stdout: o.stdout, Stderr: o.stderr})
		return resp.GetUrl(), err
	})
}

func (s *Server) serveContainerStream(w http.ResponseWriter, r *http.Request, kind string, streamURL func(context.Context, string, streamOptions) (string, error)) {
	t, ok := parseStreamPath(r.URL.Path, kind, true)
	if !ok {
		http.Error(w, fmt.Sprintf("expected /%s/<namespace>/<pod>[/<uid>]/<container>", kind), http.StatusBadRequest)
		return
	}
	opts, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !s.podKnown(t) {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	id, err := s.findContainer(ctx, t)
	if err != nil {
		streamError(w, err)
		return
	}
	raw, err := streamURL(ctx, id, opts)
	if err != nil {
		streamError(w, fmt.Errorf("%s in container %q: %w", kind, t.container, err))
		return
	}
	s.proxyStream(w, r, raw)
}

// servePortForward proxies a port-forward stream to the pod's sandbox.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	t, ok := parseStreamPath(r.URL.Path, "portForward", false)
	if !ok {
		http.Error(w, "expected /portForward/<namespace>/<pod>[/<uid>]", http.StatusBadRequest)
		return
	}
	var ports []int32
	for _, v := range r.URL.Query()["port"] {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				http.Error(w, fmt.Sprintf("invalid port %q", p), http.StatusBadRequest)
				return
			}
			ports = append(ports, int32(n))
		}
	}
	if !s.podKnown(t) {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	id, err := s.findSandbox(ctx, t)
	if err != nil {
		streamError(w, err)
		return
	}
	resp, err := s.cfg.Runtime.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: id, Port: ports})
	if err != nil {
		streamError(w, fmt.Errorf("port-forward to pod %q: %w", t.pod, err))
		return
	}
	s.proxyStream(w, r, resp.GetUrl())
}

// podKnown reports whether the kubelet runs the pod (any pod when the
// kubelet gave no pod list).
func (s *Server) podKnown(t streamTarget) bool {
	if s.cfg.Pods == nil {
		return true
	}
	p := s.findPod(t.namespace, t.pod)
	return p != nil && (t.uid == "" || string(p.UID) == t.uid)
}

// proxyStream hands the upgrade request to the runtime's streaming server.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		http.Error(w, fmt.Sprintf("runtime returned a bad streaming URL %q: %v", raw, err), http.StatusInternalServerError)
		return
	}
	h := proxy.NewUpgradeAwareHandler(u, nil, false, true, proxyResponder{s})
	h.ServeHTTP(w, r)
}

type proxyResponder struct{ s *Server }

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.s.log.Warn("proxying a stream to the runtime", "path", r.URL.Path, "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}
