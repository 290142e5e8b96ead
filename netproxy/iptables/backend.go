package iptables

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	goipt "github.com/coreos/go-iptables/iptables"

	"kite/netproxy"
)

// Config selects the IP family and the programs the backend runs.
type Config struct {
	// IPv6 makes the backend handle IPv6 addresses with ip6tables; one
	// backend handles one family.
	IPv6 bool
	// RestorePath is the iptables-restore program; empty finds
	// iptables-restore (ip6tables-restore) in PATH.
	RestorePath string
	// ConntrackPath is the conntrack program, used to forget UDP flows to
	// removed endpoints; empty finds it in PATH, and without it stale UDP
	// flows only age out.
	ConntrackPath string
	Logger        *slog.Logger
}

// Backend applies netproxy states with iptables. It is safe for use by one
// Proxy; Sync and Cleanup are serialised.
type Backend struct {
	cfg       Config
	ipt       *goipt.IPTables
	render    renderer
	restore   string
	conntrack *netproxy.ConntrackFlusher
	log       *slog.Logger

	mu      sync.Mutex
	applied applied         // what the kernel holds
	last    *netproxy.State // last applied state
	ready   bool            // jumps and sysctls were set up
}

var _ netproxy.Backend = (*Backend)(nil)

// New finds the iptables programs; nothing changes until the first Sync.
func New(cfg Config) (*Backend, error) {
	proto, restoreName := goipt.ProtocolIPv4, "iptables-restore"
	if cfg.IPv6 {
		proto, restoreName = goipt.ProtocolIPv6, "ip6tables-restore"
	}
	ipt, err := goipt.New(goipt.IPFamily(proto), goipt.Timeout(waitSeconds))
	if err != nil {
		return nil, fmt.Errorf("find iptables: %w", err)
	}
	restore := cfg.RestorePath
	if restore == "" {
		if restore, err = exec.LookPath(restoreName); err != nil {
			return nil, fmt.Errorf("find %s: %w", restoreName, err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "netproxy-iptables")
	return &Backend{
		cfg:       cfg,
		ipt:       ipt,
		render:    renderer{family: family{ipv6: cfg.IPv6}, randomFully: ipt.HasRandomFully()},
		restore:   restore,
		conntrack: netproxy.NewConntrackFlusher(cfg.ConntrackPath, cfg.IPv6, log),
		log:       log,
	}, nil
}

// waitSeconds bounds how long an iptables call waits for the xtables lock.
const waitSeconds = 5

// Sync writes the rules for state in one iptables-restore call: the
// dispatch chains and the changed service ports' chains, or everything
// (repairing any tampering) when changed is nil.
func (b *Backend) Sync(state *netproxy.State, changed map[netproxy.ServicePortName]bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	if !b.ready {
		// Before the first restore the backend knows nothing of what is
		// in place, so it rewrites everything.
		changed = nil
	}
	var existing []string
	if changed == nil {
		var err error
		if existing, err = b.ipt.ListChains("nat"); err != nil {
			return fmt.Errorf("list nat chains: %w", err)
		}
	}
	out := b.render.render(state, changed, b.applied, existing)
	if err := runRestore(b.restore, out.payload); err != nil {
		// The kernel may hold some of it (each table commits on its own):
		// the next sync must be a full one.
		b.ready = false
		return err
	}
	b.applied = out.applied
	if changed == nil {
		if err := b.setup(); err != nil {
			b.ready = false
			return err
		}
		b.ready = true
	}
	b.conntrack.ForgetStale(b.last, state, changed)
	b.last = state
	b.log.Debug("iptables synced", "full", changed == nil, "changed", len(changed),
		"staleChains", len(out.stale), "bytes", len(out.payload), "took", time.Since(start))
	return nil
}

// Cleanup removes every jump, chain and rule the backend ever added,
// including chains left behind by an earlier run.
func (b *Backend) Cleanup() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, j := range jumps() {
		if err := b.ipt.DeleteIfExists(j.table, j.from, j.rule...); err != nil {
			errs = append(errs, fmt.Errorf("remove jump from %s/%s: %w", j.table, j.from, err))
		}
	}
	payload, err := b.cleanupPayload()
	if err != nil {
		errs = append(errs, err)
	} else if err := runRestore(b.restore, payload); err != nil {
		errs = append(errs, err)
	}
	b.applied = applied{}
	b.last = nil
	b.ready = false
	return errors.Join(errs...)
}
