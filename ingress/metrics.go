package ingress

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// latencyBuckets are the upper bounds, in seconds, of the request duration histogram.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// metrics counts requests per Ingress; requests no Ingress matched are
// counted under an empty namespace and name.
type metrics struct {
	mu     sync.Mutex
	series map[types.NamespacedName]*ingressSeries
	// served is the Ingresses the current table serves (nil until the
	// first table): series of others are dropped and not started again by
	// requests still in flight from an older table.
	served map[types.NamespacedName]bool
}

type ingressSeries struct {
	// byClass counts responses by status class: index 1 is 1xx ... 5 is 5xx.
	byClass [6]uint64
	// buckets[i] counts requests no slower than latencyBuckets[i] (not cumulative here).
	buckets []uint64
	count   uint64
	sum     float64
}

func newMetrics() *metrics {
	return &metrics{series: map[types.NamespacedName]*ingressSeries{}}
}

func (m *metrics) observe(ing types.NamespacedName, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[ing]
	if s == nil {
		if ing.Name != "" && m.served != nil && !m.served[ing] {
			return
		}
		s = &ingressSeries{buckets: make([]uint64, len(latencyBuckets))}
		m.series[ing] = s
	}
	if class := status / 100; class >= 1 && class <= 5 {
		s.byClass[class]++
	}
	secs := d.Seconds()
	for i, upper := range latencyBuckets {
		if secs <= upper {
			s.buckets[i]++
			break
		}
	}
	s.count++
	s.sum += secs
}

// retain keeps the series of the served Ingresses (and of unmatched
// requests) and drops the rest, so deleted Ingresses leave /metrics.
func (m *metrics) retain(served map[types.NamespacedName]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.served = served
	for k := range m.series {
		if k.Name != "" && !served[k] {
			delete(m.series, k)
		}
	}
}

// ServeHTTP writes the Prometheus text exposition format.
func (m *metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(m.render()))
}

func (m *metrics) render() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]types.NamespacedName, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })

	var b strings.Builder
	b.WriteString("# HELP kite_ingress_requests_total Requests served by the kite ingress proxy, by Ingress and status class.\n")
	b.WriteString("# TYPE kite_ingress_requests_total counter\n")
	for _, k := range keys {
		for class := 1; class <= 5; class++ {
			if n := m.series[k].byClass[class]; n > 0 {
				fmt.Fprintf(&b, "kite_ingress_requests_total{%s,code=\"%dxx\"} %d\n", labelsOf(k), class, n)
			}
		}
	}
	b.WriteString("# HELP kite_ingress_request_duration_seconds Time from request to the end of the response, by Ingress.\n")
	b.WriteString("# TYPE kite_ingress_request_duration_seconds histogram\n")
	for _, k := range keys {
		s, l := m.series[k], labelsOf(k)
		var cumulative uint64
		for i, upper := range latencyBuckets {
			cumulative += s.buckets[i]
			fmt.Fprintf(&b, "kite_ingress_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", l, strconv.FormatFloat(upper, 'g', -1, 64), cumulative)
		}
		fmt.Fprintf(&b, "kite_ingress_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", l, s.count)
		fmt.Fprintf(&b, "kite_ingress_request_duration_seconds_sum{%s} %s\n", l, strconv.FormatFloat(s.sum, 'g', -1, 64))
		fmt.Fprintf(&b, "kite_ingress_request_duration_seconds_count{%s} %d\n", l, s.count)
	}
	return b.String()
}

// labelsOf renders the Ingress labels; namespace and name are DNS labels and
// need no escaping.
func labelsOf(k types.NamespacedName) string {
	return fmt.Sprintf("namespace=%q,ingress=%q", k.Namespace, k.Name)
}
