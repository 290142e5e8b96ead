// Package scheduler is Kite's pod scheduler: it assigns pods that ask for
// the default scheduler to nodes, as kube-scheduler does with its default
// plugins. A scheduling queue orders the pending pods; for each pod the
// filters find feasible nodes (stopping early in big clusters), the
// scores pick the best of them, the pod is assumed on that node in the
// scheduler's cache and bound through pods/binding in the background.
package scheduler

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"kite/server/controllers"
)

// Scheduler is the default scheduler. A Scheduler is used for one Run.
type Scheduler struct {
	client   kubernetes.Interface
	recorder events.EventRecorder
	pods     cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer
	synced   []cache.InformerSynced
	// What place reads besides nodes and pods (functions, for tests).
	lookupNamespace  func(name string) labels.Set
	lookupNamespaces func(labels.Selector) []string
	lookupServices   func(namespace string) []*corev1.Service
	log              *slog.Logger

	queue *queue
	cache *nodeCache
	calls chan func(context.Context) // API calls for the workers

	// Owned by the scheduling loop: where the next search starts, and
	// buffers reused from pod to pod.
	nextStart   int
	rand        *rand.Rand
	statuses    []nodeStatus
	feasible    []*nodeInfo
	total       []int64
	affinityRaw []int64
	taintRaw    []int64
	interPodRaw []int64
	spreadRaw   []int64
}

// New returns a scheduler using cc's informers.
func New(cc *controllers.Context) *Scheduler {
	namespaces := cc.Informers.Core().V1().Namespaces()
	services := cc.Informers.Core().V1().Services()
	return &Scheduler{
		client:           cc.Client,
		recorder:         cc.Recorder(SchedulerName),
		pods:             cc.Informers.Core().V1().Pods().Informer(),
		nodes:            cc.Informers.Core().V1().Nodes().Informer(),
		synced:           []cache.InformerSynced{namespaces.Informer().HasSynced, services.Informer().HasSynced},
		lookupNamespace:  namespaceLabels(namespaces.Lister()),
		lookupNamespaces: namespacesMatching(namespaces.Lister()),
		lookupServices:   servicesIn(services.Lister()),
		log:              slog.Default().With("component", "scheduler"),
		queue:            newQueue(time.Now),
		cache:            newNodeCache(),
		calls:            make(chan func(context.Context), 1024),
		rand:             rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// Run schedules pods until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	synced := append(s.synced,
		controllers.Handle(ctx, s.nodes, s.nodeHandler()),
		controllers.Handle(ctx, s.pods, s.podHandler()),
	)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	s.log.Info("scheduling")
	s.runAPIWorkers(ctx)
	go s.queue.runTimers(ctx.Done())
	context.AfterFunc(ctx, s.queue.close)
	for s.scheduleOne(ctx) {
	}
}

// scheduleOne takes the next pod from the queue and places it, or parks
// it with the reason; it returns false once the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qp, pod := s.queue.pop()
	if qp == nil {
		return false
	}
	if !s.pending(pod) || s.cache.placed(pod.UID) {
		s.queue.done(qp)
		return true
	}
	result := s.place(pod)
	if result.node != "" {
		s.bind(ctx, qp, pod, result.node)
		return true
	}
	s.log.Debug("unschedulable", "pod", pod.Namespace+"/"+pod.Name, "reason", result.message)
	s.queue.requeue(qp, result.rejectors, true)
	s.reportUnschedulable(ctx, pod, result.message)
	return true
}

// namespaceLabels looks up a namespace's labels (nil if unknown).
func namespaceLabels(lister corelisters.NamespaceLister) func(string) labels.Set {
	return func(name string) labels.Set {
		ns, err := lister.Get(name)
		if err != nil {
			return nil
		}
		return ns.Labels
	}
}

// namespacesMatching names the namespaces a selector picks.
func namespacesMatching(lister corelisters.NamespaceLister) func(labels.Selector) []string {
	return func(sel labels.Selector) []string {
		list, err := lister.List(sel)
		if err != nil {
			return nil
		}
		names := make([]string, len(list))
		for i, ns := range list {
			names[i] = ns.Name
		}
		return names
	}
}

// servicesIn lists the Services of a namespace.
func servicesIn(lister corelisters.ServiceLister) func(string) []*corev1.Service {
	return func(namespace string) []*corev1.Service {
		list, err := lister.Services(namespace).List(labels.Everything())
		if err != nil {
			return nil
		}
		return list
	}
}
