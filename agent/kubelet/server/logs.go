package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"kite/agent/kubelet/crilabels"
)

const (
	// followPoll is how often a followed log is checked for new lines.
	followPoll = 100 * time.Millisecond
	// runningCheck is how often a follower asks whether the container
	// still runs.
	runningCheck = time.Second
)

// parseLogOptions reads the containerLogs query (the PodLogOptions the API
// server forwards) and checks it as the API validates PodLogOptions.
func parseLogOptions(q url.Values, now time.Time) (opts logOptions, previous bool, err error) {
	opts.tailLines = -1
	boolean := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s: invalid value %q: must be true or false", name, v)
		}
		return b, nil
	}
	integer := func(name string, min int64, must string) (int64, bool, error) {
		v := q.Get(name)
		if v == "" {
			return 0, false, nil
		}
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: invalid value %q: must be an integer", name, v)
		}
		if i < min {
			return 0, false, fmt.Errorf("%s: Invalid value: %d: %s", name, i, must)
		}
		return i, true, nil
	}
	if opts.follow, err = boolean("follow"); err != nil {
		return opts, false, err
	}
	if previous, err = boolean("previous"); err != nil {
		return opts, false, err
	}
	if opts.timestamps, err = boolean("timestamps"); err != nil {
		return opts, false, err
	}
	if tail, ok, err := integer("tailLines", 0, "must be greater than or equal to 0"); err != nil {
		return opts, false, err
	} else if ok {
		opts.tailLines = tail
	}
	if opts.limitBytes, _, err = integer("limitBytes", 1, "must be greater than 0"); err != nil {
		return opts, false, err
	}
	sinceSeconds, hasSinceSeconds, err := integer("sinceSeconds", 1, "must be greater than 0")
	if err != nil {
		return opts, false, err
	}
	if st := q.Get("sinceTime"); st != "" {
		if hasSinceSeconds {
			return opts, false, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified")
		}
		t, err := time.Parse(time.RFC3339, st)
		if err != nil {
			return opts, false, fmt.Errorf("sinceTime: invalid value %q: %w", st, err)
		}
		opts.since = t
	}
	if hasSinceSeconds {
		opts.since = now.Add(-time.Duration(sinceSeconds) * time.Second)
	}
	return opts, previous, nil
}

// serveContainerLogs answers /containerLogs/<namespace>/<pod>/<container>.
func (s *Server) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		http.Error(w, "expected /containerLogs/<namespace>/<pod>/<container>", http.StatusBadRequest)
		return
	}
	ns, podName, container := parts[0], parts[1], parts[2]
	opts, previous, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod := s.findPod(ns, podName)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %q does not exist", podName), http.StatusNotFound)
		return
	}
	if !podHasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %q not found in pod %q", container, podName), http.StatusNotFound)
		return
	}
	dir := podLogDir(s.cfg.PodLogsDir, pod, container)
	restarts, err := restartsWithLogs(dir)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	restart, err := chooseLogRestart(restarts, containerStatus(pod, container), podName, container, previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, err := os.Open(logFileName(dir, restart))
	if err != nil {
		http.Error(w, fmt.Sprintf("opening the log of container %q in pod %q: %v", container, podName, err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	out := io.Writer(w)
	if opts.follow {
		out = &flushWriter{w: w, f: http.NewResponseController(w)}
	}
	follow := opts.follow && !previous
	running := func(ctx context.Context) bool {
		return s.containerRunning(ctx, pod, container, dir, restart)
	}
	if err := readLog(r.Context(), f, logFileName(dir, restart), opts, follow, running, out); err != nil && !errors.Is(err, errLimitReached) && r.Context().Err() == nil {
		s.log.Warn("streaming container log", "pod", ns+"/"+podName, "container", container, "err", err)
	}
}

// flushWriter sends every write to the client at once, for followers.
type flushWriter struct {
	w io.Writer
	f *http.ResponseController
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if err == nil {
		err = fw.f.Flush()
	}
	return n, err
}

// readLog writes the log in f (opened from path) to out. Following, it
// keeps reading as the file grows, moves to the new file when the log is
// rotated, and stops once running reports the container gone (after
// reading what it wrote last) or ctx ends. It closes f.
func readLog(ctx context.Context, f *os.File, path string, opts logOptions, follow bool, running func(context.Context) bool, out io.Writer) error {
	defer func() { f.Close() }()
	start, err := tailOffset(f, opts.tailLines)
	if err != nil {
		return fmt.Errorf("finding the last %d lines: %w", opts.tailLines, err)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("seeking in %s: %w", path, err)
	}
	lw := newLineWriter(out, opts)
	lr := newLineReader(f)
	drain := func() error {
		for {
			line, err := lr.next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading %s: %w", path, err)
			}
			rec, err := parseCRILine(bytes.TrimSuffix(line, []byte{'\n'}))
			if err != nil {
				continue // not a CRI line: skip it, as the kubelet does
			}
			if err := lw.add(rec); err != nil {
				return err
			}
		}
	}
	if err := drain(); err != nil || !follow {
		return err
	}
	lastCheck := time.Now()
	stopping := false
	for {
		if stopping {
			return drain()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
		if err := drain(); err != nil {
			return err
		}
		if rotated(f, path) {
			next, err := os.Open(path)
			if err == nil {
				// The old file is read to its end; continue in the new one.
				f.Close()
				f, lr = next, newLineReader(next)
				continue
			}
		}
		if time.Since(lastCheck) >= runningCheck {
			lastCheck = time.Now()
			stopping = !running(ctx)
		}
	}
}

// rotated reports whether path now names another file than the open f:
// the log was renamed away and the runtime reopened a new one.
func rotated(f *os.File, path string) bool {
	open, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	if err != nil {
		return false
	}
	a, ok1 := open.Sys().(*syscall.Stat_t)
	b, ok2 := now.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && (a.Ino != b.Ino || a.Dev != b.Dev)
}

// containerRunning reports whether the run of the container that wrote
// restart's log still runs: asked of the runtime, else judged from the
// kubelet's pod status. A newer run's log means this one has ended.
func (s *Server) containerRunning(ctx context.Context, pod *corev1.Pod, container, dir string, restart int) bool {
	if restarts, err := restartsWithLogs(dir); err == nil && len(restarts) > 0 && restarts[len(restarts)-1] > restart {
		return false
	}
	if s.cfg.Runtime != nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		list, err := s.cfg.Runtime.ListContainers(cctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{
			crilabels.PodUID: string(pod.UID), crilabels.ContainerName: container,
		}})
		if err == nil {
			for _, c := range list {
				if c.GetAnnotations()[crilabels.RestartCountAnnotation] == strconv.Itoa(restart) {
					return c.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING || c.GetState() == runtimeapi.ContainerState_CONTAINER_CREATED
				}
			}
			return false
		}
		s.log.Warn("asking the runtime whether a container runs", "err", err)
	}
	current := s.findPod(pod.Namespace, pod.Name)
	if current == nil || current.UID != pod.UID {
		return false
	}
	st := containerStatus(current, container)
	return st != nil && st.State.Running != nil
}
