package resourcequota

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// rediscoverAfter limits how often an unknown resource name sends the
// controller back to discovery (upstream rediscovers every 30 s).
const rediscoverAfter = 30 * time.Second

// counters counts objects of any namespaced resource the API serves, for
// count/<resource>.<group> quotas. It watches a resource only once some
// quota counts it, and then only metadata, so unused kinds cost nothing.
type counters struct {
	discovery discovery.DiscoveryInterface
	factory   metadatainformer.SharedInformerFactory
	changed   func(namespace string, gr schema.GroupResource) // an object came or went
	synced    func(gr schema.GroupResource)                   // a new informer has its first list

	mu           sync.Mutex
	ctx          context.Context
	informers    map[schema.GroupResource]cache.SharedIndexInformer
	served       map[schema.GroupResource]schema.GroupVersionResource // quotable resources by discovery
	discoveredAt time.Time
}

func newCounters(disc discovery.DiscoveryInterface, meta metadata.Interface) *counters {
	return &counters{
		discovery: disc,
		factory:   metadatainformer.NewSharedInformerFactory(meta, 0),
		informers: map[schema.GroupResource]cache.SharedIndexInformer{},
	}
}

// start makes informers started from now on live until ctx ends.
func (c *counters) start(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
}

// count returns the number of objects of gr in namespace. ready is false
// while the resource is unknown to the API server or its informer is
// still listing; retry says when an unknown resource is worth another
// look.
func (c *counters) count(namespace string, gr schema.GroupResource) (n int, ready bool, retry time.Duration) {
	inf, retry := c.informer(gr)
	if inf == nil {
		return 0, false, retry
	}
	if !inf.HasSynced() {
		return 0, false, 0 // synced() requeues the quotas
	}
	objs, err := inf.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		return 0, false, time.Second
	}
	return len(objs), true, 0
}

// informer returns the running informer of gr, starting it when needed.
func (c *counters) informer(gr schema.GroupResource) (cache.SharedIndexInformer, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inf, ok := c.informers[gr]; ok {
		return inf, 0
	}
	gvr, ok := c.served[gr]
	if !ok {
		if wait := time.Until(c.discoveredAt.Add(rediscoverAfter)); !c.discoveredAt.IsZero() && wait > 0 {
			return nil, wait
		}
		c.discover()
		if gvr, ok = c.served[gr]; !ok {
			return nil, rediscoverAfter
		}
	}
	if c.ctx == nil {
		return nil, time.Second
	}
	inf := c.factory.ForResource(gvr).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.notify(obj, gr) },
		DeleteFunc: func(obj any) { c.notify(obj, gr) },
	})
	c.informers[gr] = inf
	c.factory.Start(c.ctx.Done())
	ctx := c.ctx
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			c.synced(gr)
		}
	}()
	return inf, 0
}

// discover refreshes the namespaced resources that can be listed and
// watched, at their preferred versions. Callers hold mu.
func (c *counters) discover() {
	c.discoveredAt = time.Now()
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return // keep what we knew
	}
	lists = discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "watch"}}, lists)
	served := map[schema.GroupResource]schema.GroupVersionResource{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // a subresource
			}
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if !ignoredResources[gr] {
				served[gr] = gv.WithResource(r.Name)
			}
		}
	}
	c.served = served
}

func (c *counters) notify(obj any, gr schema.GroupResource) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if ns, err := namespaceOf(obj); err == nil && ns != "" {
		c.changed(ns, gr)
	}
}

func namespaceOf(obj any) (string, error) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return "", err
	}
	ns, _, err := cache.SplitMetaNamespaceKey(key)
	return ns, err
}
