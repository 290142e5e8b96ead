package ingress

import (
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"
)

// backend is a Service port of an Ingress resolved to endpoint addresses.
// Routes naming the same Service port share one backend, so round-robin
// spreads over all of their requests.
type backend struct {
	service types.NamespacedName
	// port is the Service port as the Ingress names it (number or name), for logs.
	port string
	// endpoints are "ip:port" addresses: ready ones, or serving-terminating
	// ones when none is ready.
	endpoints []string
	// problem says why the backend has no endpoints when it is broken
	// (missing Service or port); nil for a healthy backend.
	problem *problem
	next    atomic.Uint64
}

// maxConnectAttempts bounds how many endpoints one request tries to connect to.
const maxConnectAttempts = 3

// nextStart returns the index of the endpoint a request tries first: the
// next one in round-robin order. Its successors follow when connecting fails.
func (b *backend) nextStart() int {
	return int((b.next.Add(1) - 1) % uint64(len(b.endpoints)))
}
