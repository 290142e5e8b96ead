package replicaset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kite/server/controllers"
)

// manageReplicas creates or deletes pods so that rs has its desired count,
// at most burstReplicas per call.
func (c *Controller) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, active []*corev1.Pod) error {
	key := rsKey(rs)
	diff := len(active) - int(*rs.Spec.Replicas)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expectations.Expect(key, n, 0)
		c.log.Debug("too few replicas", "replicaset", key, "need", *rs.Spec.Replicas, "creating", n)
		made, failures := controllers.SlowStart(n, func(int) error {
			err := c.createPod(ctx, rs)
			if err != nil {
				c.expectations.Observed(key, 1, 0) // a failed creation will never be seen
			}
			return err
		})
		// Nor will the creations never tried.
		c.expectations.Observed(key, n-made, 0)
		if len(failures) > 0 {
			return failures[0]
		}
		return nil
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
			keys[i] = controllers.PodKey(p)
		}
		c.expectations.ExpectDeletionsOf(key, keys)
		return controllers.Parallel(len(victims), func(i int) error {
			p := victims[i]
			err := c.deletePodOf(ctx, rs, p)
			if err == nil {
				return nil
			}
			c.expectations.DeletionObserved(key, controllers.PodKey(p)) // it will never be seen
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		})
	}
	return nil
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
