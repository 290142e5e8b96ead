package nftables

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"kite/netproxy"
)

// Config selects the IP family and the programs the backend runs.
type Config struct {
	// IPv6 makes the backend handle IPv6 addresses in table ip6 kite-proxy;
	// one backend handles one family.
	IPv6 bool
	// ConntrackPath is the conntrack program, used to forget UDP flows to
	// removed endpoints; empty finds it in PATH, and without it stale UDP
	// flows only age out.
	ConntrackPath string
	Logger        *slog.Logger
}

// Backend applies netproxy states with nftables. It is safe for use by one
// Proxy; Sync and Cleanup are serialised.
type Backend struct {
	cfg    Config
	render renderer
	flows  *netproxy.ConntrackFlusher
	log    *slog.Logger

	mu sync.Mutex
	// prev is what the kernel holds, and the renderings a full sync
	// reuses; nil or untrusted forces a full sync.
	prev    *applied
	trusted bool
	last    *netproxy.State // last applied state, for conntrack cleanup
}

var _ netproxy.Backend = (*Backend)(nil)

// New prepares the backend; nothing changes until the first Sync. It
// talks to the kernel over netlink and needs no nft program.
func New(cfg Config) (*Backend, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	fam := family{ipv6: cfg.IPv6}
	log := cfg.Logger.With("component", "netproxy-nftables", "family", fam.table())
	return &Backend{
		cfg:    cfg,
		render: renderer{family: fam, spare: new(attrs)},
		flows:  netproxy.NewConntrackFlusher(cfg.ConntrackPath, cfg.IPv6, log),
		log:    log,
	}, nil
}

// Sync applies state in one nf_tables transaction: the changed service ports'
// map elements and chains, or the whole table (repairing any tampering)
// when changed is nil or the backend has not synced yet.
func (b *Backend) Sync(state *netproxy.State, changed map[netproxy.ServicePortName]bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	full := changed == nil || !b.trusted || b.prev.nextSlot >= slotRenumberAt
	if full {
		changed = nil
	}
	var carried map[string]carriedSet
	if full {
		var err error
		if carried, err = readAffinity(b.render.family); err != nil {
			// Losing affinity is better than not syncing at all.
			b.log.Warn("cannot read session affinity; clients may move to another endpoint", "err", err)
		}
	}
	tx := b.render.render(state, changed, b.prev, carried)
	err := tx.batch.send()
	b.render.recycle(tx.batch)
	if err != nil {
		// The kernel applied nothing, but a failure usually means the
		// table is not what prev says (someone changed it): rebuild it
		// next time. Its renderings, of the state just asked for, stay
		// good for that.
		b.prev, b.trusted = tx.next, false
		return fmt.Errorf("apply %s %s: %w", b.render.family.table(), tableName, err)
	}
	b.prev, b.trusted = tx.next, true
	if full && !b.cfg.IPv6 {
		// Node ports answer on 127.0.0.1 as with the iptables backend.
		if err := setSysctl("/proc/sys/net/ipv4/conf/all/route_localnet", "1"); err != nil {
			return err
		}
	}
	b.flows.ForgetStale(b.last, state, changed)
	b.last = state
	b.log.Debug("nftables synced", "full", full, "changed", len(changed), "staleChains", len(tx.staleChains),
		"staleSets", len(tx.staleSets), "requests", len(tx.batch.msgs), "bytes", len(tx.batch.buf), "took", time.Since(start))
	return nil
}

// Cleanup deletes kite's table, and with it every chain, map and set the
// backend ever wrote. A missing table is fine.
func (b *Backend) Cleanup() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prev, b.trusted, b.last = nil, false, nil
	tx := newBatch(b.render.family)
	tx.addTable()
	tx.deleteTable()
	if err := tx.send(); err != nil {
		return fmt.Errorf("delete table %s: %w", tx.table, err)
	}
	return nil
}

// setSysctl writes value to a /proc/sys file unless it holds it already.
// Network settings belong to the calling thread's network namespace.
func setSysctl(path, value string) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s to %s: %w", path, value, err)
	}
	return nil
}
