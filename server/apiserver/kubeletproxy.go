package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/core/validation"
	kubeletclient "k8s.io/kubernetes/pkg/kubelet/client"
	"k8s.io/kubernetes/pkg/registry/core/pod"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"kite/server/storage"
)

// KubeletClientConfig is how the API server reaches kubelets: the cluster
// CA verifies their serving certificates, and the client certificate
// (kube-apiserver-kubelet-client) identifies the API server to them.
type KubeletClientConfig struct {
	CAFile, CertFile, KeyFile string
}

// connectOptionsKind is the options kind discovery names for each
// subresource the kubelets serve, as kube-apiserver's connecters do.
var connectOptionsKind = map[string]schema.GroupVersionKind{
	"exec":        {Version: "v1", Kind: "PodExecOptions"},
	"attach":      {Version: "v1", Kind: "PodAttachOptions"},
	"portforward": {Version: "v1", Kind: "PodPortForwardOptions"},
	"nodes/proxy": {Version: "v1", Kind: "NodeProxyOptions"},
}

// isKubeletSubresource tells the subresources proxied to kubelets.
func isKubeletSubresource(resource, sub string) bool {
	switch resource + "/" + sub {
	case "pods/log", "pods/exec", "pods/attach", "pods/portforward", "nodes/proxy":
		return true
	}
	return false
}

// defaultKubeletPort is used for nodes that publish no kubelet endpoint.
const defaultKubeletPort = 10250

// kubeletConnector finds a node's kubelet (address and port from the Node
// status) and holds the TLS transport to it.
type kubeletConnector struct {
	s    *Server
	once sync.Once
	conn kubeletclient.ConnectionInfoGetter
	err  error
}

func (k *kubeletConnector) GetConnectionInfo(ctx context.Context, node types.NodeName) (*kubeletclient.ConnectionInfo, error) {
	k.once.Do(func() {
		cfg := k.s.cfg.Kubelet
		k.conn, k.err = kubeletclient.NewNodeConnectionInfoGetter(kubeletclient.NodeGetterFunc(k.node), kubeletclient.KubeletClientConfig{
			Port: defaultKubeletPort,
			// Nodes are reached at their own addresses first, as k3s
			// configures kube-apiserver.
			PreferredAddressTypes: []string{string(corev1.NodeInternalIP), string(corev1.NodeExternalIP), string(corev1.NodeHostName)},
			TLSClientConfig:       kubeletclient.KubeletTLSConfig{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile},
		})
	})
	if k.err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("kubelet client: %w", k.err))
	}
	return k.conn.GetConnectionInfo(ctx, node)
}

// node reads a Node from the watch cache, as a v1 object.
func (k *kubeletConnector) node(ctx context.Context, name string, _ metav1.GetOptions) (*corev1.Node, error) {
	nodes := k.s.handlerFor(schema.GroupResource{Resource: "nodes"})
	obj, err := nodes.store.Cached(ctx, "", name)
	if err != nil {
		return nil, err
	}
	out := &corev1.Node{}
	if err := scheme.Convert(storage.Unwrap(obj), out, nil); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

// podGetter reads pods for upstream's location helpers, in the namespace
// of the request context.
type podGetter struct{ h *resourceHandler }

func (g podGetter) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	ns, _ := genericapirequest.NamespaceFrom(ctx)
	obj, err := g.h.store.Get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return storage.Unwrap(obj), nil
}

// decodeOptions reads the query of a connect or log request into the
// internal options type, through its v1 form as kube-apiserver does.
func decodeOptions(r *http.Request, versioned, internal runtime.Object) error {
	if err := parameterCodec.DecodeParameters(r.URL.Query(), corev1.SchemeGroupVersion, versioned); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if err := scheme.Convert(versioned, internal, nil); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

// defaultContainer applies the kubectl.kubernetes.io/default-container
// annotation when no container is named and the pod has several.
func (h *resourceHandler) defaultContainer(ctx context.Context, info requestInfo, container *string) error {
	if *container != "" {
		return nil
	}
	obj, err := podGetter{h}.Get(ctx, info.name, nil)
	if err != nil {
		return err
	}
	p := obj.(*api.Pod)
	if len(p.Spec.Containers) <= 1 {
		return nil
	}
	name := p.Annotations["kubectl.kubernetes.io/default-container"]
	for _, c := range p.Spec.Containers {
		if name != "" && c.Name == name {
			*container = name
		}
	}
	return nil
}

// serveLog streams pods/log from the pod's kubelet.
func (h *resourceHandler) serveLog(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts := &api.PodLogOptions{}
	if err := decodeOptions(r, &corev1.PodLogOptions{}, opts); err != nil {
		writeError(w, r, err)
		return
	}
	if errs := validation.ValidatePodLogOptions(opts, false); len(errs) > 0 {
		writeError(w, r, apierrors.NewInvalid(api.Kind("PodLogOptions"), info.name, errs))
		return
	}
	ctx := requestContext(r.Context(), info)
	if err := h.defaultContainer(ctx, info, &opts.Container); err != nil {
		writeError(w, r, err)
		return
	}
	location, transport, err := pod.LogLocation(ctx, podGetter{h}, h.s.kubelets, info.name, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	streamer := &genericrest.LocationStreamer{
		Location:        location,
		Transport:       transport,
		ContentType:     "text/plain",
		Flush:           opts.Follow,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(api.Resource("pods/log"), info.name),
		RedirectChecker: genericrest.PreventRedirects,
	}
	stream, flush, contentType, err := streamer.InputStream(ctx, "v1", r.Header.Get("Accept"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if stream == nil {
		// The pod has no node yet: there is no log.
		w.WriteHeader(http.StatusOK)
		return
	}
	defer stream.Close()
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	if err := copyStream(w, stream, flush); err != nil && r.Context().Err() == nil && !errors.Is(err, context.Canceled) {
		// The status is sent; all that is left is to end the body.
		slog.Debug("streaming pod log", "component", "apiserver", "pod", info.namespace+"/"+info.name, "err", err)
	}
}

// copyStream copies a kubelet response to the client, flushing each chunk
// when following so lines arrive as they are written.
func copyStream(w http.ResponseWriter, src io.Reader, flush bool) error {
	if !flush {
		_, err := io.Copy(w, src)
		return err
	}
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// serveStream proxies pods/exec, pods/attach and pods/portforward to the
// pod's kubelet, as kube-apiserver 1.37 does: SPDY upgrades pass through;
// websocket exec and attach (v5.channel.k8s.io, what kubectl tries first)
// are translated to SPDY here; websocket port-forward is tunnelled.
func (h *resourceHandler) serveStream(w http.ResponseWriter, r *http.Request, info requestInfo) {
	ctx := requestContext(r.Context(), info)
	var (
		target  *kubeletTarget
		handler http.Handler
		err     error
	)
	switch info.subresource {
	case "exec":
		opts := &api.PodExecOptions{}
		if err = decodeOptions(r, &corev1.PodExecOptions{}, opts); err == nil {
			err = h.defaultContainer(ctx, info, &opts.Container)
		}
		if err == nil {
			target, err = locate(pod.ExecLocation(ctx, podGetter{h}, h.s.kubelets, info.name, opts))
		}
		if err == nil {
			handler = target.translated(streamproxy.Options{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Tty: opts.TTY})
		}
	case "attach":
		opts := &api.PodAttachOptions{}
		if err = decodeOptions(r, &corev1.PodAttachOptions{}, opts); err == nil {
			err = h.defaultContainer(ctx, info, &opts.Container)
		}
		if err == nil {
			target, err = locate(pod.AttachLocation(ctx, podGetter{h}, h.s.kubelets, info.name, opts))
		}
		if err == nil {
			handler = target.translated(streamproxy.Options{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Tty: opts.TTY})
		}
	case "portforward":
		opts := &api.PodPortForwardOptions{}
		if err = decodeOptions(r, &corev1.PodPortForwardOptions{}, opts); err == nil {
			target, err = locate(pod.PortForwardLocation(ctx, podGetter{h}, h.s.kubelets, info.name, opts))
		}
		if err == nil {
			upgrade := target.upgradeHandler()
			handler = streamproxy.NewTranslatingHandler(upgrade, streamproxy.NewTunnelingHandler(upgrade), wsstream.IsWebSocketRequestWithTunnelingProtocol)
		}
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	handler.ServeHTTP(w, r.WithContext(ctx))
}

// kubeletTarget is a kubelet URL with the transport that reaches it.
type kubeletTarget struct {
	location  *url.URL
	transport http.RoundTripper
}

func locate(u *url.URL, conn *kubeletclient.ConnectionInfo, err error) (*kubeletTarget, error) {
	if err != nil {
		return nil, err
	}
	return &kubeletTarget{location: u, transport: conn.Transport}, nil
}

// upgradeHandler proxies an upgrade request (SPDY) to the kubelet.
func (t *kubeletTarget) upgradeHandler() *proxy.UpgradeAwareHandler {
	return proxy.NewUpgradeAwareHandler(t.location, t.transport, false, true, statusResponder{})
}

// translated serves SPDY requests by proxying and websocket ones by
// translating them to SPDY towards the kubelet.
func (t *kubeletTarget) translated(opts streamproxy.Options) http.Handler {
	translator := streamproxy.NewStreamTranslatorHandler(t.location, t.transport, 0, opts)
	return streamproxy.NewTranslatingHandler(t.upgradeHandler(), translator, wsstream.IsWebSocketRequestWithStreamCloseProtocol)
}

// statusResponder answers proxy failures with a Status, as kube-apiserver.
type statusResponder struct{}

func (statusResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, err)
}

// serveNodeProxy serves /api/v1/nodes/<name>/proxy[/<path>]: requests to
// the node's kubelet API.
func (s *Server) serveNodeProxy(w http.ResponseWriter, r *http.Request, u user.Info, name, rest string) {
	info := requestInfo{gv: schema.GroupVersion{Version: "v1"}, resource: "nodes", name: name, subresource: "proxy", verb: verbFor(r, requestInfo{name: name})}
	if ok, reason := s.authorize(r, u, info); !ok {
		writeError(w, r, forbidden(u, info, reason))
		return
	}
	ctx := requestContext(r.Context(), info)
	conn, err := s.kubelets.GetConnectionInfo(ctx, types.NodeName(name))
	if err != nil {
		writeError(w, r, err)
		return
	}
	location := &url.URL{Scheme: conn.Scheme, Host: net.JoinHostPort(conn.Hostname, conn.Port), Path: utilnet.JoinPreservingTrailingSlash("/", rest)}
	handler := proxy.NewUpgradeAwareHandler(location, conn.Transport, true, false, statusResponder{})
	handler.ServeHTTP(w, r.WithContext(ctx))
}

// nodeProxyPath splits /api/v1/nodes/<name>/proxy[/<rest>]; ok is false
// for any other path.
func nodeProxyPath(path string) (name, rest string, ok bool) {
	after, found := strings.CutPrefix(path, "/api/v1/nodes/")
	if !found {
		return "", "", false
	}
	name, sub, _ := strings.Cut(after, "/")
	if name == "" || (sub != "proxy" && !strings.HasPrefix(sub, "proxy/")) {
		return "", "", false
	}
	return name, strings.TrimPrefix(strings.TrimPrefix(sub, "proxy"), "/"), true
}
