package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kite/server/controllers"
)

// templateGenerationLabel is the legacy pod label carrying the set's
// template generation (kept for pods made by old controllers).
const templateGenerationLabel = "pod-template-generation"

// podsByNode groups ds's pods by the node they are for. Pods that are
// finished and being deleted are left out unless withDeletedTerminal.
func (c *Controller) podsByNode(ctx context.Context, ds *appsv1.DaemonSet, withDeletedTerminal bool) (map[string][]*corev1.Pod, error) {
	pods, err := c.claimPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		if !withDeletedTerminal && controllers.IsPodTerminal(pod) && pod.DeletionTimestamp != nil {
			continue
		}
		node, err := targetNode(pod)
		if err != nil {
			continue
		}
		byNode[node] = append(byNode[node], pod)
	}
	return byNode, nil
}

// manage creates the daemon pods missing on eligible nodes and deletes
// those on nodes that must not run them, failed ones and duplicates.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, hash string) error {
	byNode, err := c.podsByNode(ctx, ds, false)
	if err != nil {
		return fmt.Errorf("couldn't get node to daemon pod mapping for daemon set %q: %w", ds.Name, err)
	}
	place := placementOf(ds)
	var create, remove []string
	for _, node := range nodes {
		add, del := c.podsForNode(ds, node, byNode[node.Name], place, hash)
		create = append(create, add...)
		remove = append(remove, del...)
	}
	// Unbound pods for nodes that are gone would never be scheduled, and
	// the pod garbage collector only removes bound pods.
	existing := map[string]bool{}
	for _, node := range nodes {
		existing[node.Name] = true
	}
	for node, pods := range byNode {
		if existing[node] {
			continue
		}
		for _, pod := range pods {
			if pod.Spec.NodeName == "" {
				remove = append(remove, pod.Name)
			}
		}
	}
	return c.syncNodes(ctx, ds, remove, create, hash)
}

// podsForNode decides what node needs: a pod created (the node's name),
// or pods deleted.
func (c *Controller) podsForNode(ds *appsv1.DaemonSet, node *corev1.Node, pods []*corev1.Pod, place placement, hash string) (create, remove []string) {
	shouldRun, shouldContinue := place.onNode(node)
	switch {
	case shouldRun && len(pods) == 0:
		return []string{node.Name}, nil
	case !shouldContinue:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				remove = append(remove, pod.Name)
			}
		}
		return nil, remove
	}
	var running []*corev1.Pod
	for _, pod := range pods {
		switch {
		case pod.DeletionTimestamp != nil:
		case pod.Status.Phase == corev1.PodFailed:
			// Kubelets may keep rejecting a pod: back off per node.
			backoffKey := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node.Name)
			now := c.now()
			if c.failedBackoff.IsInBackOffSinceUpdate(backoffKey, now) {
				c.queue.AddAfter(ds.Namespace+"/"+ds.Name, c.failedBackoff.Get(backoffKey))
				continue
			}
			c.failedBackoff.Next(backoffKey, now)
			c.recorder.Eventf(ds, pod, corev1.EventTypeWarning, "FailedDaemonPod", "Delete",
				"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
			remove = append(remove, pod.Name)
		case pod.Status.Phase == corev1.PodSucceeded:
			c.recorder.Eventf(ds, pod, corev1.EventTypeNormal, "SucceededDaemonPod", "Delete",
				"Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
			remove = append(remove, pod.Name)
		default:
			running = append(running, pod)
		}
	}
	sort.Slice(running, func(i, j int) bool { return olderPod(running[i], running[j]) })
	if !allowsSurge(ds) {
		// One pod per node: keep the oldest. A node left without one gets
		// it on the next sync.
		for _, pod := range running[min(1, len(running)):] {
			remove = append(remove, pod.Name)
		}
		return nil, remove
	}
	if len(running) == 0 {
		if shouldRun {
			create = append(create, node.Name)
		}
		return create, remove
	}
	// While surging a node may run the oldest old pod and the oldest new
	// one; the old one goes once the new one is available, or at once if
	// it is not ready.
	var newest, oldest *corev1.Pod
	for _, pod := range running {
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			if newest == nil {
				newest = pod
				continue
			}
		} else if oldest == nil {
			oldest = pod
			continue
		}
		remove = append(remove, pod.Name)
	}
	if newest != nil && oldest != nil &&
		(!controllers.IsPodReady(oldest) || controllers.IsPodAvailable(newest, ds.Spec.MinReadySeconds, c.now())) {
		remove = append(remove, oldest.Name)
	}
	return create, remove
}

// olderPod orders pods bound first, then by age, then by name.
func olderPod(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName != ""
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// syncNodes deletes the named pods and creates a pod for each named node,
// at most burstReplicas of each, expecting to see every request in the
// informer before the next decision.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, remove, create []string, hash string) error {
	key := setKey(ds)
	create = create[:min(len(create), burstReplicas)]
	remove = remove[:min(len(remove), burstReplicas)]
	c.expectations.Expect(key, len(create), len(remove))

	template := podTemplate(ds, hash)
	// Created in batches of doubling size: when creating fails for a
	// reason every pod shares (quota, say), few requests and events are
	// wasted.
	made, errs := controllers.SlowStart(len(create), func(i int) error {
		err := c.createPod(ctx, ds, template, create[i])
		if err == nil {
			return nil
		}
		c.expectations.Observed(key, 1, 0) // a failed creation will never be seen
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return err
	})
	// Nor will the creations never tried.
	c.expectations.Observed(key, len(create)-made, 0)

	errs = append(errs, controllers.Parallel(len(remove), func(i int) error {
		err := c.deletePod(ctx, ds, remove[i])
		if err == nil {
			return nil
		}
		c.expectations.Observed(key, 0, 1) // a failed deletion will never be seen
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}))
	return errors.Join(errs...)
}

// podTemplate is ds's pod template as daemon pods get it: with the daemon
// tolerations, the revision hash label and the legacy generation label.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen, ok := templateGeneration(ds); ok {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(gen, 10)
	}
	t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	return t
}

// templateGeneration is the generation the API server records in the
// deprecated.daemonset.template.generation annotation.
func templateGeneration(ds *appsv1.DaemonSet) (int64, bool) {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return 0, false
	}
	gen, err := strconv.ParseInt(v, 10, 64)
	return gen, err == nil
}

// createPod creates a daemon pod pinned to node.
func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: t.Spec,
	}
	pod.Spec.Affinity = pinToNode(pod.Spec.Affinity, node)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(ds, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(ds, created, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %v", created.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, ds *appsv1.DaemonSet, name string) error {
	err := c.client.CoreV1().Pods(ds.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.recorder.Eventf(ds, nil, corev1.EventTypeWarning, "FailedDelete", "Delete", "Error deleting: %v", err)
		}
		return err
	}
	// The pod is the related object so that events about different pods
	// stay apart (events.k8s.io recorders fold repeats into a series).
	var related runtime.Object
	if pod, err := c.pods.Pods(ds.Namespace).Get(name); err == nil {
		related = pod
	}
	c.recorder.Eventf(ds, related, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted pod: %v", name)
	return nil
}
