package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilexec "k8s.io/utils/exec"
)

// runHook runs a postStart or preStop handler against a container and
// returns upstream's failure message with the error.
func (k *Kubelet) runHook(ctx context.Context, pod *v1.Pod, c *v1.Container, containerID string,
	h *v1.LifecycleHandler, podIP string) (string, error) {
	switch {
	case h.Exec != nil:
		out, err := k.execInContainer(ctx, containerID, h.Exec.Command, 0)
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
				h.Exec.Command, c.Name, podFullName(pod), err, string(out)), err
		}
	case h.HTTPGet != nil:
		if err := httpHook(ctx, h.HTTPGet, c, podIP); err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v",
				h.HTTPGet.Path, c.Name, podFullName(pod), err), err
		}
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return "", nil
}

// execInContainer runs cmd through CRI ExecSync; a non-zero exit is an
// error carrying the output.
func (k *Kubelet) execInContainer(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, error) {
	stdout, stderr, err := k.cfg.Runtime.ExecSync(ctx, containerID, cmd, timeout)
	return append(stdout, stderr...), err
}

// execForProbe adapts ExecSync to the probe package: exit codes are
// results, not errors.
func (k *Kubelet) execForProbe(containerID string) func(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, int, error) {
	return func(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, int, error) {
		out, err := k.execInContainer(ctx, containerID, cmd, timeout)
		var exitErr utilexec.ExitError
		if errors.As(err, &exitErr) {
			return out, exitErr.ExitStatus(), nil
		}
		if err != nil {
			return out, -1, err
		}
		return out, 0, nil
	}
}

// httpHook performs an httpGet handler; any status outside 2xx/3xx fails.
func httpHook(ctx context.Context, g *v1.HTTPGetAction, c *v1.Container, podIP string) error {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if p, q, ok := strings.Cut(path, "?"); ok {
		u.Path, u.RawQuery = p, q
	} else {
		u.Path = path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10*1024))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP lifecycle hook (%s) for Container %q failed with statuscode: %d", path, c.Name, resp.StatusCode)
	}
	return nil
}

// resolvePort turns a port number or a named container port into a number.
func resolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
}
