package proxytest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// SkipUnlessRoot skips t unless it runs as root with every one of tools
// in PATH; why says what the test does that needs root.
func SkipUnlessRoot(t testing.TB, why string, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs the %s program in PATH: %v", tool, err)
		}
	}
}

// RandomSuffix is 8 hex digits, so namespaces of parallel runs differ.
func RandomSuffix(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Netns is a network namespace a test creates with `ip netns add`, so a
// backend under test writes only there, never into the host's rules.
type Netns struct {
	t    testing.TB
	Name string
}

// NewNetns creates namespace name with its loopback up and deletes it
// when t ends.
func NewNetns(t testing.TB, name string) *Netns {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns := &Netns{t: t, Name: name}
	ns.Exec("ip", "link", "set", "lo", "up")
	return ns
}

// Exec runs a command inside the namespace and returns its output,
// failing the test when it fails.
func (ns *Netns) Exec(args ...string) string {
	ns.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("%s in %s: %v: %s", strings.Join(args, " "), ns.Name, err, out)
	}
	return string(out)
}

// Do runs fn on an OS thread switched into the namespace. The thread is
// never unlocked, so Go discards it afterwards and no other goroutine
// ever runs in the namespace.
func (ns *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns.Name)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Serve answers every TCP connection on addr inside the namespace with
// reply, until t ends.
func (ns *Netns) Serve(t testing.TB, addr, reply string) {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, reply)
			c.Close()
		}
	}()
}

// Dial connects from inside the namespace within timeout and returns what
// the server said, or the error.
func (ns *Netns) Dial(addr string, timeout time.Duration) (string, error) {
	var reply []byte
	err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		reply, err = io.ReadAll(c)
		return err
	})
	return string(reply), err
}

// SendUDP sends one datagram from inside the namespace, which leaves a
// conntrack entry behind.
func (ns *Netns) SendUDP(t testing.TB, addr string) {
	t.Helper()
	err := ns.Do(func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("ping"))
		return err
	})
	if err != nil {
		t.Fatalf("send UDP to %s: %v", addr, err)
	}
}
