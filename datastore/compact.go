package datastore

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactRevKey is the key kube-apiserver uses to coordinate compaction
// between API servers. Using the same key means kite servers of one cluster
// (and a kube-apiserver pointed at the same etcd) compact once per interval
// between them instead of once each.
const compactRevKey = "compact_rev_key"

// compactor drops etcd history older than one interval. Watchers and
// lists that are more than an interval behind get 410 Gone and relist,
// exactly as with kube-apiserver.
type compactor struct {
	client   *clientv3.Client
	interval time.Duration
	log      *slog.Logger

	// seenVersion is the version of compactRevKey at our last look. Our
	// claim transaction only succeeds when nobody else has claimed the
	// interval since, which elects one compacting server per interval.
	seenVersion int64
	// prevRev is the store revision at the previous tick: everything up to
	// it is at least one interval old at the next tick.
	prevRev int64
}

// run ticks until ctx ends. Failures are logged and retried at the next
// tick; compaction is housekeeping, never worth stopping the server for.
func (c *compactor) run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.tick(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("etcd compaction failed", "err", err)
			}
		}
	}
}

// tick claims this interval and, if the claim wins, compacts to the
// revision seen one interval ago.
func (c *compactor) tick(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.interval)
	defer cancel()

	resp, err := c.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", c.seenVersion)).
		Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(c.prevRev, 10))).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return err
	}
	current := resp.Header.Revision

	if !resp.Succeeded {
		// Another server claimed the interval (or we just started and do
		// not know the key's version yet): catch up and try next tick.
		c.seenVersion = 0
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			c.seenVersion = kvs[0].Version
		}
		c.prevRev = current
		return nil
	}

	c.seenVersion++
	target := c.prevRev
	c.prevRev = current
	if target == 0 {
		return nil // first tick: nothing is one interval old yet
	}
	start := time.Now()
	if _, err := c.client.Compact(ctx, target); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return nil // someone already compacted past it
		}
		return err
	}
	c.log.Debug("compacted etcd", "revision", target, "took", time.Since(start))
	return nil
}
