package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// manageReplicas creates or deletes pods so that rs has its desired count,
// at most burstReplicas per call.
func (c *Controller) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, active []*corev1.Pod) error {
	key := rs.Namespace + "/" + rs.Name
	diff := len(active) - int(*rs.Spec.Replicas)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expectations.expectCreations(key, n)
		c.log.Debug("too few replicas", "replicaset", key, "need", *rs.Spec.Replicas, "creating", n)
		created, err := slowStart(n, func() error { return c.createPod(ctx, rs) })
		// The creations that were never attempted, or failed, will never
		// be observed.
		for range n - created {
			c.expectations.creationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		c.log.Debug("too many replicas", "replicaset", key, "need", *rs.Spec.Replicas, "deleting", n)
		related, err := c.familyPods(rs)
		if err != nil {
			c.log.Warn("cannot list related pods", "replicaset", key, "err", err)
		}
		victims := podsToDelete(active, related, n, c.now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podKey(p)
		}
		c.expectations.expectDeletions(key, keys)
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.deletePodOf(ctx, rs, p); err != nil {
					c.expectations.deletionObserved(key, podKey(p))
					if !apierrors.IsNotFound(err) {
						errs[i] = err
					}
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// slowStart calls fn count times, in batches of 1, 2, 4, ... calls run in
// parallel, and stops after the first batch with a failure, so a cause
// that fails every call (a quota, a missing PriorityClass) costs few
// calls. It returns how many calls succeeded.
func slowStart(count int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-done) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		done += batch - len(errs)
		if len(errs) > 0 {
			return done, <-errs
		}
	}
	return done, nil
}

// createPod creates one pod from rs's template, controlled by rs.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs)
	if len(pod.Labels) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Nothing can be created in a namespace being deleted, and
			// nothing needs to be: not a failure worth reporting.
			return nil
		}
		c.recorder.Eventf(rs, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: %v", err)
		return err
	}
	// The pod as related object keeps each creation its own Event: the
	// recorder folds events that differ only in their note into one
	// series, and "Created pod: <name>" should name every pod.
	c.recorder.Eventf(rs, created, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %v", created.Name)
	return nil
}

// podFromTemplate is a new pod of rs: the template's labels, annotations,
// finalizers and spec, a name generated from rs's, and rs as controller.
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	// A dash makes the names prettier, when the name leaves room for it.
	prefix := rs.Name + "-"
	if len(apivalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = rs.Name
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Labels:          labels.Set(t.Labels),
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		},
		Spec: t.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	return pod
}

// deletePodOf deletes rs's pod and records the outcome on rs.
func (c *Controller) deletePodOf(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(rs.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return err
	case err != nil:
		c.recorder.Eventf(rs, pod, corev1.EventTypeWarning, "FailedDelete", "Delete", "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	c.recorder.Eventf(rs, pod, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted pod: %v", pod.Name)
	return nil
}

// familyPods lists the pods selected by every ReplicaSet that has the
// same controller as rs (the ReplicaSets of one Deployment), rs included.
func (c *Controller) familyPods(rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return nil, nil
	}
	siblings, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*corev1.Pod
	for _, s := range siblings {
		if r := metav1.GetControllerOfNoCopy(s); r == nil || r.UID != ref.UID {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err != nil {
			continue
		}
		pods, err := c.podLister.Pods(s.Namespace).List(sel)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if !seen[string(p.UID)] {
				seen[string(p.UID)] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}
