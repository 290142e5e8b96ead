package cni

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// requireRoot skips tests that create namespaces, links or iptables rules.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, links and iptables rules")
	}
}

// newNetns creates a named network namespace that is deleted when the test
// ends (with every link, route and iptables rule inside it), and returns its
// path.
func newNetns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "kite-test-" + hex.EncodeToString(b)

	// netns.NewNamed switches the calling thread into the new namespace;
	// the thread is locked and then abandoned with its goroutine, so the
	// switch never leaks to other goroutines.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create network namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete network namespace %s: %v", name, err)
		}
	})
	return filepath.Join("/run/netns", name)
}

// inNetns runs fn on a thread switched into the namespace at path. The
// thread is never returned to the Go scheduler: it ends with the goroutine.
func inNetns(t *testing.T, path string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}
