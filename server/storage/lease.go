package storage

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseManager hands out etcd leases for objects that expire (events). It
// reuses one lease for a window of writes, as kube-apiserver does, so a
// burst of events costs one lease grant rather than one each.
type leaseManager struct {
	client *clientv3.Client
	ttl    int64

	mu      sync.Mutex
	id      clientv3.LeaseID
	granted time.Time
}

func newLeaseManager(client *clientv3.Client, ttlSeconds int64) *leaseManager {
	return &leaseManager{client: client, ttl: ttlSeconds}
}

// reuseWindow is how long one lease is shared; objects live between ttl and
// ttl plus this window.
const reuseWindow = time.Minute

func (l *leaseManager) lease(ctx context.Context) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id != 0 && time.Since(l.granted) < reuseWindow {
		return l.id, nil
	}
	resp, err := l.client.Grant(ctx, l.ttl+int64(reuseWindow/time.Second))
	if err != nil {
		return 0, err
	}
	l.id, l.granted = resp.ID, time.Now()
	return l.id, nil
}
