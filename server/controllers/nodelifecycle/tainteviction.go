package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"

	"kite/server/controllers"
)

// TaintEviction deletes pods from nodes with NoExecute taints: at once when
// a taint is not tolerated, after tolerationSeconds when the toleration
// is limited, never when it is not. It is upstream's
// taint-eviction-controller.
type TaintEviction struct {
	client    kubernetes.Interface
	nodes     corelisters.NodeLister
	pods      corelisters.PodLister
	podIndex  cache.Indexer               // pods, with controllers.NodeNameIndex
	informers []cache.SharedIndexInformer // nodes, pods
	recorder  events.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string] // pod keys
	now       func() time.Time
	log       *slog.Logger

	mu sync.Mutex
	// pending holds, per pod key, when its eviction was first scheduled:
	// tolerationSeconds count from there even if the taints change.
	pending map[string]time.Time
}

// NewTaintEviction returns the taint eviction controller.
func NewTaintEviction(cc *controllers.Context) *TaintEviction {
	nodeInf := cc.Informers.Core().V1().Nodes()
	podInf := cc.Informers.Core().V1().Pods()
	// Without the index, pods are found by a scan of the cache.
	_ = controllers.IndexPodsByNode(podInf.Informer())
	return &TaintEviction{
		client:    cc.Client,
		nodes:     nodeInf.Lister(),
		pods:      podInf.Lister(),
		podIndex:  podInf.Informer().GetIndexer(),
		informers: []cache.SharedIndexInformer{nodeInf.Informer(), podInf.Informer()},
		recorder:  cc.Recorder("taint-eviction-controller"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint_eviction"}),
		now:     time.Now,
		log:     slog.Default().With("component", "taint-eviction-controller"),
		pending: map[string]time.Time{},
	}
}

// Run works until ctx ends.
func (c *TaintEviction) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.informers[0], cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { c.nodeChanged(nil, obj) },
			UpdateFunc: func(old, obj any) {
				c.nodeChanged(old, obj)
			},
			DeleteFunc: func(obj any) { c.nodeChanged(obj, nil) },
		}),
		controllers.Handle(ctx, c.informers[1], cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { c.podChanged(nil, obj) },
			UpdateFunc: func(old, obj any) {
				c.podChanged(old, obj)
			},
			DeleteFunc: func(obj any) { c.podDeleted(obj) },
		}),
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	controllers.RunWorkers(ctx, c.queue, 4, c.sync, c.log)
}

// nodeChanged requeues the node's pods when its NoExecute taints change.
func (c *TaintEviction) nodeChanged(oldObj, obj any) {
	if t, ok := oldObj.(cache.DeletedFinalStateUnknown); ok {
		oldObj = t.Obj
	}
	oldNode, _ := oldObj.(*corev1.Node)
	node, _ := obj.(*corev1.Node)
	name := ""
	switch {
	case node != nil:
		name = node.Name
	case oldNode != nil:
		name = oldNode.Name
	default:
		return
	}
	if oldNode != nil && node != nil && apiequality.Semantic.DeepEqual(noExecuteTaints(oldNode.Spec.Taints), noExecuteTaints(node.Spec.Taints)) {
		return
	}
	if node != nil && oldNode == nil && len(noExecuteTaints(node.Spec.Taints)) == 0 {
		return // a new untainted node: nothing of its pods to decide
	}
	for _, pod := range controllers.PodsOnNode(c.podIndex, name) {
		c.enqueue(pod)
	}
}

// podChanged requeues a pod whose node or tolerations changed.
func (c *TaintEviction) podChanged(oldObj, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	if old, ok := oldObj.(*corev1.Pod); ok && old.Spec.NodeName == pod.Spec.NodeName &&
		apiequality.Semantic.DeepEqual(old.Spec.Tolerations, pod.Spec.Tolerations) {
		return
	}
	c.enqueue(pod)
}

func (c *TaintEviction) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		c.enqueue(pod)
	}
}

func (c *TaintEviction) enqueue(pod *corev1.Pod) {
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		c.queue.Add(key)
	}
}

// sync decides a pod's fate from its node's NoExecute taints and its
// tolerations.
func (c *TaintEviction) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(key, ns, name, nil)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		c.forget(key) // already on its way out
		return nil
	}
	var taints []corev1.Taint
	if pod.Spec.NodeName != "" {
		if node, err := c.nodes.Get(pod.Spec.NodeName); err == nil {
			taints = noExecuteTaints(node.Spec.Taints)
		}
	}
	if len(taints) == 0 {
		c.cancel(key, ns, name, pod)
		return nil
	}
	tolerated, used := tolerationsFor(taints, pod.Spec.Tolerations)
	if !tolerated {
		return c.evict(ctx, key, pod)
	}
	delay := evictionDelay(used)
	if delay < 0 {
		c.cancel(key, ns, name, pod)
		return nil
	}
	now := c.now()
	c.mu.Lock()
	since, scheduled := c.pending[key]
	if !scheduled {
		since = now
		c.pending[key] = since
	}
	c.mu.Unlock()
	if fire := since.Add(delay); now.Before(fire) {
		return controllers.RetryAfter(fire.Sub(now))
	}
	return c.evict(ctx, key, pod)
}

// cancel drops a scheduled eviction, telling the pod's events so as
// upstream does.
func (c *TaintEviction) cancel(key, ns, name string, pod *corev1.Pod) {
	c.mu.Lock()
	_, scheduled := c.pending[key]
	delete(c.pending, key)
	c.mu.Unlock()
	if !scheduled {
		return
	}
	if pod == nil {
		pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	c.recorder.Eventf(pod, nil, corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling", "Cancelling deletion of Pod %s/%s", ns, name)
}

func (c *TaintEviction) forget(key string) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

// evict marks the pod with the DisruptionTarget condition and deletes it
// (gracefully: the kubelet stops it and the pod then goes away).
func (c *TaintEviction) evict(ctx context.Context, key string, pod *corev1.Pod) error {
	c.recorder.Eventf(pod, nil, corev1.EventTypeNormal, "TaintManagerEviction", "Deleting", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	if err := addDisruptionTarget(ctx, c.client, pod, "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint", c.now()); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(key)
			return nil
		}
		return err
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", key, err)
	}
	c.forget(key)
	c.log.Info("evicted pod from tainted node", "pod", key, "node", pod.Spec.NodeName)
	return nil
}

// addDisruptionTarget records on the pod why it is about to be deleted,
// unless it says so already.
func addDisruptionTarget(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, reason, message string, now time.Time) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == reason && c.Message == message {
			return nil
		}
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status": map[string]any{"conditions": []corev1.PodCondition{{
			Type:               corev1.DisruptionTarget,
			Status:             corev1.ConditionTrue,
			ObservedGeneration: pod.Generation,
			Reason:             reason,
			Message:            message,
			LastTransitionTime: metav1.NewTime(now),
		}}},
	})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
