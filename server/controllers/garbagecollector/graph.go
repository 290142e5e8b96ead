// Package garbagecollector deletes objects whose owners are gone and carries
// out foreground and orphan deletion, as kube-controller-manager's garbage
// collector does: it keeps a graph of ownerReferences from metadata
// informers over every served resource and acts through the API.
package garbagecollector

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Resource is one resource the collector watches.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// node is what the graph knows of one object.
type node struct {
	res        Resource
	namespace  string
	name       string
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool
}

func (n *node) hasFinalizer(f string) bool {
	for _, x := range n.finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// graph indexes objects by UID and owners by the UIDs of their dependents.
type graph struct {
	mu         sync.RWMutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]bool
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]bool{}}
}

// upsert records an object and returns its previous state (nil if new).
func (g *graph) upsert(uid types.UID, n *node) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[uid]
	if old != nil {
		g.unlinkLocked(uid, old)
	}
	g.nodes[uid] = n
	for _, o := range n.owners {
		if g.dependents[o.UID] == nil {
			g.dependents[o.UID] = map[types.UID]bool{}
		}
		g.dependents[o.UID][uid] = true
	}
	return old
}

// remove forgets an object and returns what it was.
func (g *graph) remove(uid types.UID) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[uid]
	if old != nil {
		g.unlinkLocked(uid, old)
		delete(g.nodes, uid)
	}
	return old
}

func (g *graph) unlinkLocked(uid types.UID, n *node) {
	for _, o := range n.owners {
		delete(g.dependents[o.UID], uid)
		if len(g.dependents[o.UID]) == 0 {
			delete(g.dependents, o.UID)
		}
	}
}

func (g *graph) get(uid types.UID) (node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return node{}, false
	}
	return *n, true
}

// dependentsOf returns the UIDs of the objects that name uid as an owner.
func (g *graph) dependentsOf(uid types.UID) []types.UID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]types.UID, 0, len(g.dependents[uid]))
	for d := range g.dependents[uid] {
		out = append(out, d)
	}
	return out
}
