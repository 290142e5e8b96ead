package runtime

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	criclient "k8s.io/cri-client/pkg"

	"kite/internal/atomicfile"
)

// criCallTimeout bounds each CRI call the clients make, as the kubelet's
// --runtime-request-timeout does (image pulls are not bounded by it).
const criCallTimeout = 2 * time.Minute

// Restart backoff for a containerd that died: doubling from the first
// delay up to the cap, back to the first after a run of stableRun.
const (
	restartFirstDelay = time.Second
	restartMaxDelay   = 30 * time.Second
	stableRun         = time.Minute
)

// Runtime is a running CRI runtime: the embedded containerd under
// supervision, or an existing one given by endpoint.
type Runtime struct {
	endpoint   string
	runtime    internalapi.RuntimeService
	images     internalapi.ImageManagerService
	registries *Registries
	embedded   bool
	pid        atomic.Int64
	done       chan struct{}
}

// Endpoint is the CRI socket, unix:///path.
func (r *Runtime) Endpoint() string { return r.endpoint }

// RuntimeService is a CRI runtime client; it reconnects by itself across
// containerd restarts.
func (r *Runtime) RuntimeService() internalapi.RuntimeService { return r.runtime }

// ImageService is a CRI image client; it reconnects by itself across
// containerd restarts.
func (r *Runtime) ImageService() internalapi.ImageManagerService { return r.images }

// RegistryAuth is the credentials the kubelet should pass with a pull of
// image when the pod has no pull secret for it. The embedded containerd
// already holds registries.yaml's credentials per registry host (mirrors
// included), so it is nil there; an external runtime gets them from here.
func (r *Runtime) RegistryAuth(image string) *runtimeapi.AuthConfig {
	if r.embedded {
		return nil
	}
	return r.registries.AuthFor(image)
}

// PID is the process ID of the running embedded containerd; 0 when there
// is none (external runtime, or between restarts).
func (r *Runtime) PID() int { return int(r.pid.Load()) }

// Done is closed once the runtime has stopped after the context given to
// Start ended.
func (r *Runtime) Done() <-chan struct{} { return r.done }

// Wait blocks until Done is closed.
func (r *Runtime) Wait() { <-r.done }

// Start brings up the container runtime and returns once it answers CRI
// and kite's images are imported. The embedded containerd is restarted
// with backoff whenever it dies, and stopped when ctx ends.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	registries, err := LoadRegistries(cfg.RegistriesFile)
	if err != nil {
		return nil, err
	}
	if registries.HasRewrites() {
		cfg.Logger.Warn("registries.yaml mirror rewrites are not supported by the embedded containerd; pulls through mirrors use the original repository path", "file", cfg.RegistriesFile)
	}
	if cfg.Endpoint != "" {
		return startExternal(ctx, cfg, registries)
	}
	if err := CheckPrerequisites(true).Err(); err != nil {
		return nil, err
	}
	p := newPaths(cfg.DataDir)
	if err := prepare(cfg, p, registries); err != nil {
		return nil, err
	}
	if stopped, err := stopLeftover(p, cfg.StopTimeout); err != nil {
		return nil, err
	} else if stopped {
		cfg.Logger.Warn("stopped a containerd left running by a previous kite")
	}

	r := &Runtime{endpoint: "unix://" + p.socket, registries: registries, embedded: true, done: make(chan struct{})}
	began := time.Now()
	proc, err := launchContainerd(cfg, p)
	if err != nil {
		return nil, err
	}
	r.pid.Store(int64(proc.cmd.Process.Pid))
	v, err := waitForCRI(ctx, r.endpoint, cfg.StartTimeout, proc.exited)
	if err == nil {
		err = r.connect(ctx)
	}
	if err == nil {
		err = importImages(ctx, p.socket, p, cfg.Logger)
	}
	if err != nil {
		r.close()
		proc.stop(cfg.StopTimeout)
		return nil, fmt.Errorf("starting containerd: %w (log %s: %s)", err, p.log, logTail(p.log, 5))
	}
	cfg.Logger.Info("containerd ready", "version", v.RuntimeVersion, "pid", proc.cmd.Process.Pid, "socket", p.socket, "took", time.Since(began).Round(time.Millisecond))
	go r.supervise(ctx, cfg, p, proc)
	return r, nil
}

// prepare writes what containerd needs at start: the programs, the
// registry hosts tree and config.toml.
func prepare(cfg Config, p paths, registries *Registries) error {
	for _, dir := range []string{p.dir, p.root, p.state, p.binDir, p.imagesDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	if err := registries.writeHostsDir(p.hostsDir); err != nil {
		return err
	}
	config, err := renderContainerdConfig(cfg, p, registries.criAuths())
	if err != nil {
		return err
	}
	// 0600: it may hold registry credentials.
	if err := atomicfile.WriteFile(p.config, config, 0o600); err != nil {
		return fmt.Errorf("writing containerd config: %w", err)
	}
	if err := cfg.InstallPrograms(p.binDir); err != nil {
		return fmt.Errorf("installing containerd into %s: %w", p.binDir, err)
	}
	return nil
}

// connect builds the CRI clients; the runtime must be answering.
func (r *Runtime) connect(ctx context.Context) error {
	rs, err := criclient.NewRemoteRuntimeServiceBuilder().
		WithEndpoint(r.endpoint).
		WithConnectionTimeout(criCallTimeout).
		WithTracerProvider(nil).
		Build(ctx)
	if err != nil {
		return fmt.Errorf("connecting the CRI runtime client: %w", err)
	}
	is, err := criclient.NewRemoteImageServiceBuilder().
		WithEndpoint(r.endpoint).
		WithConnectionTimeout(criCallTimeout).
		WithTracerProvider(nil).
		Build(ctx)
	if err != nil {
		_ = rs.Close(ctx)
		return fmt.Errorf("connecting the CRI image client: %w", err)
	}
	r.runtime, r.images = rs, is
	return nil
}

func (r *Runtime) close() {
	ctx := context.Background()
	if r.runtime != nil {
		_ = r.runtime.Close(ctx)
	}
	if r.images != nil {
		_ = r.images.Close(ctx)
	}
}

// supervise restarts containerd whenever it dies while ctx lives, and stops
// it when ctx ends.
func (r *Runtime) supervise(ctx context.Context, cfg Config, p paths, proc *child) {
	log := cfg.Logger
	defer close(r.done)
	defer r.close()
	delay := restartFirstDelay
	logCheck := time.NewTicker(logCheckInterval)
	defer logCheck.Stop()
	for {
		select {
		case <-ctx.Done():
			proc.stop(cfg.StopTimeout)
			r.pid.Store(0)
			log.Info("containerd stopped")
			return
		case <-logCheck.C:
			rotateLog(p.log)
			continue
		case <-proc.exited:
		}
		r.pid.Store(0)
		if time.Since(proc.started) >= stableRun {
			delay = restartFirstDelay
		}
		log.Error("containerd exited; restarting it", "err", proc.err, "in", delay, "log", logTail(p.log, 3))
		select {
		case <-ctx.Done():
			log.Info("containerd stopped")
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, restartMaxDelay)
		next, err := r.restart(ctx, cfg, p)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("restarting containerd failed", "err", err)
			}
			// A dead placeholder sends the loop round again.
			next = &child{exited: closedChannel(), started: time.Now(), err: err}
		}
		proc = next
	}
}

// restart launches containerd again and waits until it answers CRI. The
// CRI clients reconnect by themselves; images are already in its store.
func (r *Runtime) restart(ctx context.Context, cfg Config, p paths) (*child, error) {
	if err := CheckPrerequisites(true).Err(); err != nil {
		return nil, err
	}
	proc, err := launchContainerd(cfg, p)
	if err != nil {
		return nil, err
	}
	r.pid.Store(int64(proc.cmd.Process.Pid))
	if _, err := waitForCRI(ctx, r.endpoint, cfg.StartTimeout, proc.exited); err != nil {
		proc.stop(cfg.StopTimeout)
		r.pid.Store(0)
		return nil, fmt.Errorf("%w (log %s: %s)", err, p.log, logTail(p.log, 3))
	}
	cfg.Logger.Info("containerd restarted", "pid", proc.cmd.Process.Pid)
	return proc, nil
}

func closedChannel() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// startExternal connects to a CRI runtime kite does not run.
func startExternal(ctx context.Context, cfg Config, registries *Registries) (*Runtime, error) {
	r := &Runtime{endpoint: cfg.Endpoint, registries: registries, done: make(chan struct{})}
	v, err := waitForCRI(ctx, r.endpoint, cfg.StartTimeout, nil)
	if err == nil {
		err = r.connect(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("container runtime at %s: %w", cfg.Endpoint, err)
	}
	cfg.Logger.Info("using an external container runtime", "endpoint", cfg.Endpoint, "runtime", v.RuntimeName, "version", v.RuntimeVersion)
	go func() {
		<-ctx.Done()
		r.close()
		close(r.done)
	}()
	return r, nil
}
