package datastore

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"kite/server/auth"
)

// freePort asks the kernel for an unused port. Another process could take
// it before etcd binds, which is rare enough for tests on one machine.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testConfig returns a Config with real certificates from the PKI and free
// ports, in a fresh temporary data dir.
func testConfig(t *testing.T) Config {
	t.Helper()
	root := t.TempDir()
	p, err := auth.EnsurePKI(auth.PKIOptions{
		Dir:       filepath.Join(root, "server", "tls"),
		NodeName:  "test-node",
		NodeIPs:   []net.IP{net.ParseIP("127.0.0.1")},
		ServiceIP: net.ParseIP("10.43.0.1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		DataDir:        filepath.Join(root, "server", "db"),
		Name:           "test-node",
		ClientHost:     "127.0.0.1",
		ClientPort:     freePort(t),
		PeerHost:       "127.0.0.1",
		PeerPort:       freePort(t),
		CAFile:         p.EtcdCAFile,
		CertFile:       p.EtcdServerCertFile,
		KeyFile:        p.EtcdServerKeyFile,
		ClientCertFile: p.EtcdClientCertFile,
		ClientKeyFile:  p.EtcdClientKeyFile,
	}
}

func mustStart(t *testing.T, cfg Config) *Datastore {
	t.Helper()
	start := time.Now()
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("etcd started in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPutGetAndRestart(t *testing.T) {
	cfg := testConfig(t)
	d := mustStart(t, cfg)
	ctx := ctxT(t)

	want := "https://127.0.0.1:" + strconv.Itoa(cfg.ClientPort)
	if eps := d.Endpoints(); len(eps) != 1 || eps[0] != want {
		t.Fatalf("endpoints %v, want [%s]", eps, want)
	}
	if _, err := d.Client().Put(ctx, "/registry/test/a", "1"); err != nil {
		t.Fatal(err)
	}
	resp, err := d.Client().Get(ctx, "/registry/test/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("get: %v", resp.Kvs)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Restart on the same directory, asking for another name: data and the
	// member name must both survive.
	cfg.Name = "renamed"
	d2 := mustStart(t, cfg)
	resp, err = d2.Client().Get(ctx, "/registry/test/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("after restart: %v", resp.Kvs)
	}
	members, err := d2.Client().MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(members.Members) != 1 || members.Members[0].Name != "test-node" {
		t.Fatalf("members after restart: %v", members.Members)
	}
}

func TestClientCertRequired(t *testing.T) {
	cfg := testConfig(t)
	mustStart(t, cfg)

	tests := []struct {
		name     string
		certFile string
		keyFile  string
		wantOK   bool
	}{
		{"api server client cert", cfg.ClientCertFile, cfg.ClientKeyFile, true},
		{"no client cert", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.ClientCertFile, c.ClientKeyFile = tt.certFile, tt.keyFile
			client, err := newClient(c)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = client.Get(ctx, "x")
			if (err == nil) != tt.wantOK {
				t.Fatalf("get err=%v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestCompaction(t *testing.T) {
	cfg := testConfig(t)
	cfg.CompactInterval = 100 * time.Millisecond
	d := mustStart(t, cfg)
	ctx := ctxT(t)

	first, err := d.Client().Put(ctx, "k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client().Put(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	oldRev := first.Header.Revision

	// Two ticks are needed (the first only records a revision), so poll.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := d.Client().Get(ctx, "k", clientv3.WithRev(oldRev))
		if errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d was never compacted", oldRev)
		}
		time.Sleep(50 * time.Millisecond)
	}

	resp, err := d.Client().Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v2" {
		t.Fatalf("latest value lost by compaction: %v", resp.Kvs)
	}
}

func TestCompactorCoordinates(t *testing.T) {
	cfg := testConfig(t)
	cfg.CompactInterval = time.Hour // the background compactor stays idle
	d := mustStart(t, cfg)
	ctx := ctxT(t)

	// Two compactors on one cluster stand for two servers: in each round
	// only one of them may claim the interval.
	a := &compactor{client: d.Client(), interval: time.Minute, log: testLogger()}
	b := &compactor{client: d.Client(), interval: time.Minute, log: testLogger()}
	steps := []struct {
		name        string
		c           *compactor
		wantVersion int64 // version of compactRevKey afterwards
	}{
		{"a claims first interval", a, 1},
		{"b learns a claimed it", b, 1},
		{"a claims again", a, 2},
		{"b still behind, learns", b, 2},
		{"b claims", b, 3},
		{"a learns", a, 3},
	}
	for _, s := range steps {
		if _, err := d.Client().Put(ctx, "k", s.name); err != nil {
			t.Fatal(err)
		}
		if err := s.c.tick(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		resp, err := d.Client().Get(ctx, compactRevKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 || resp.Kvs[0].Version != s.wantVersion {
			t.Fatalf("%s: key %v, want version %d", s.name, resp.Kvs, s.wantVersion)
		}
	}
}

func TestPortInUse(t *testing.T) {
	tests := []struct {
		role string
		port func(c *Config) *int
	}{
		{"client", func(c *Config) *int { return &c.ClientPort }},
		{"peer", func(c *Config) *int { return &c.PeerPort }},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			cfg := testConfig(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			*tt.port(&cfg) = l.Addr().(*net.TCPAddr).Port

			d, err := Start(context.Background(), cfg)
			if err == nil {
				d.Close()
				t.Fatal("Start succeeded on a busy port")
			}
			var inUse *PortInUseError
			if !errors.As(err, &inUse) {
				t.Fatalf("error %v is not a PortInUseError", err)
			}
			want := "etcd " + tt.role + " port " + l.Addr().String() + " is already in use"
			if inUse.Role != tt.role || inUse.Addr != l.Addr().String() || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %q, want prefix %q", err, want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatal("error does not wrap EADDRINUSE")
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *Config)
		wantErr bool
	}{
		{"valid", func(*Config) {}, false},
		{"no data dir", func(c *Config) { c.DataDir = "" }, true},
		{"no server cert", func(c *Config) { c.CertFile = "" }, true},
		{"no client key", func(c *Config) { c.ClientKeyFile = "" }, true},
		{"port out of range", func(c *Config) { c.PeerPort = 70000 }, true},
		{"same client and peer", func(c *Config) { c.PeerPort = c.ClientPort }, true},
		{"negative interval", func(c *Config) { c.CompactInterval = -time.Second }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{DataDir: "/d", ClientPort: 2379, PeerPort: 2380, CAFile: "ca", CertFile: "c", KeyFile: "k", ClientCertFile: "cc", ClientKeyFile: "ck"}
			tt.change(&c)
			err := c.withDefaults().validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err=%v, wantErr=%v", err, tt.wantErr)
			}
		})
	}
}
