package nodelifecycle

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"
	nodetopology "k8s.io/component-helpers/node/topology"
)

// zoneState is how much of a zone has gone silent or NotReady.
type zoneState string

const (
	zoneInitial           zoneState = "Initial"
	zoneNormal            zoneState = "Normal"
	zonePartialDisruption zoneState = "PartialDisruption"
	zoneFullDisruption    zoneState = "FullDisruption"
)

// excludeDisruptionLabel takes a node out of the zone health count.
const excludeDisruptionLabel = "node.kubernetes.io/exclude-disruption"

// EvictionLimits are upstream's knobs for how fast nodes get NoExecute
// taints (and so lose their pods): --node-eviction-rate,
// --secondary-node-eviction-rate, --large-cluster-size-threshold and
// --unhealthy-zone-threshold.
type EvictionLimits struct {
	QPS                   float32 // taints per second in a healthy zone
	SecondaryQPS          float32 // in a partly disrupted zone of a large cluster
	LargeClusterThreshold int     // zones above this many nodes count as large
	UnhealthyZoneFraction float32 // this share of NotReady nodes (and more than 2) disrupts a zone
}

// DefaultEvictionLimits are kube-controller-manager's defaults.
var DefaultEvictionLimits = EvictionLimits{QPS: 0.1, SecondaryQPS: 0.01, LargeClusterThreshold: 50, UnhealthyZoneFraction: 0.55}

// readiness is one node's place in the zone count.
type readiness struct {
	zone  string
	ready bool
}

// zoneHealth computes each zone's state: fully disrupted when no node is
// Ready, partly when more than two and at least the threshold share are
// not Ready, normal otherwise. It returns the states and zone sizes.
func zoneHealth(nodes []readiness, unhealthyFraction float32) (map[string]zoneState, map[string]int) {
	ready, notReady := map[string]int{}, map[string]int{}
	for _, n := range nodes {
		if n.ready {
			ready[n.zone]++
		} else {
			notReady[n.zone]++
		}
	}
	states, sizes := map[string]zoneState{}, map[string]int{}
	for _, n := range nodes {
		z := n.zone
		if _, done := states[z]; done {
			continue
		}
		r, u := ready[z], notReady[z]
		sizes[z] = r + u
		switch {
		case r == 0 && u > 0:
			states[z] = zoneFullDisruption
		case u > 2 && float32(u)/float32(r+u) >= unhealthyFraction:
			states[z] = zonePartialDisruption
		default:
			states[z] = zoneNormal
		}
	}
	return states, sizes
}

// zones tracks zone states and the per-zone rate of NoExecute tainting.
type zones struct {
	limits EvictionLimits

	mu           sync.Mutex
	states       map[string]zoneState
	limiters     map[string]flowcontrol.RateLimiter
	qps          map[string]float32
	allDisrupted bool // every zone fully disrupted: taint-based eviction stops
}

func newZones(limits EvictionLimits) *zones {
	return &zones{limits: limits, states: map[string]zoneState{}, limiters: map[string]flowcontrol.RateLimiter{}, qps: map[string]float32{}}
}

// zoneChange is what a recomputation changed.
type zoneChange struct {
	changed      []string // zones whose state (and so eviction rate) changed
	enteredTotal bool     // every zone is now fully disrupted
	leftTotal    bool     // at least one zone recovered from total disruption
}

// update recomputes the zone states from the nodes' readiness.
func (z *zones) update(nodes []readiness) zoneChange {
	states, sizes := zoneHealth(nodes, z.limits.UnhealthyZoneFraction)
	z.mu.Lock()
	defer z.mu.Unlock()
	var ch zoneChange
	all := len(states) > 0
	for _, s := range states {
		if s != zoneFullDisruption {
			all = false
		}
	}
	for name := range z.states {
		if _, ok := states[name]; !ok {
			delete(z.states, name)
			delete(z.limiters, name)
			delete(z.qps, name)
		}
	}
	for name, s := range states {
		if z.states[name] == "" {
			z.states[name] = zoneInitial
		}
		if z.states[name] != s {
			ch.changed = append(ch.changed, name)
			z.states[name] = s
			z.setRate(name, z.rateFor(s, sizes[name]))
		}
	}
	switch {
	case all && !z.allDisrupted:
		ch.enteredTotal = true
	case !all && z.allDisrupted:
		ch.leftTotal = true
	}
	z.allDisrupted = all
	return ch
}

// rateFor is the NoExecute tainting rate of a zone in state s: halted in a
// partly disrupted small zone (a network split is likelier than many dead
// nodes), slowed in a large one.
func (z *zones) rateFor(s zoneState, size int) float32 {
	switch s {
	case zonePartialDisruption:
		if size > z.limits.LargeClusterThreshold {
			return z.limits.SecondaryQPS
		}
		return 0
	default:
		return z.limits.QPS
	}
}

func (z *zones) setRate(zone string, qps float32) {
	if old, ok := z.qps[zone]; ok && old == qps {
		return
	}
	z.qps[zone] = qps
	if qps <= 0 {
		delete(z.limiters, zone)
		return
	}
	z.limiters[zone] = flowcontrol.NewTokenBucketRateLimiter(qps, 1)
}

// admitTaint asks whether a node of the zone may get a NoExecute taint
// now. If not, retry says when to ask again (0: only when the zone's state
// changes, which requeues its nodes).
func (z *zones) admitTaint(zone string) (ok bool, retry time.Duration) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.allDisrupted {
		return false, 0
	}
	if _, known := z.qps[zone]; !known {
		// A zone of excluded nodes only has no state: the normal rate.
		z.setRate(zone, z.limits.QPS)
	}
	lim, found := z.limiters[zone]
	if !found {
		return false, 0 // halted until the zone's state changes
	}
	if lim.TryAccept() {
		return true, 0
	}
	return false, time.Duration(float64(time.Second) / float64(z.qps[zone]))
}

// totalDisruption reports whether every zone is fully disrupted.
func (z *zones) totalDisruption() bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.allDisrupted
}

// zoneOf is the node's zone key (region and zone labels).
func zoneOf(node *corev1.Node) string { return nodetopology.GetZoneKey(node) }

func excludedFromDisruption(node *corev1.Node) bool {
	_, ok := node.Labels[excludeDisruptionLabel]
	return ok
}
