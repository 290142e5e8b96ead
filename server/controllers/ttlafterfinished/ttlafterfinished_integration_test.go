package ttlafterfinished_test

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/garbagecollector"
	"kite/server/controllers/job"
	"kite/server/controllers/ttlafterfinished"
)

const ns = "default"

func newJob(name string, ttl *int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			TTLSecondsAfterFinished: ttl,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
			}},
		},
	}
}

// TestIntegrationTTLAfterFinished: a finished Job with
// ttlSecondsAfterFinished is deleted, with its pods, once the TTL has
// passed; a Job without one, or not finished, stays; lowering the TTL of
// a finished Job deletes it then.
func TestIntegrationTTLAfterFinished(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	gc := garbagecollector.New(cc, []garbagecollector.Resource{
		{GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Kind: "Pod", Namespaced: true},
		{GVR: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, Kind: "Job", Namespaced: true},
	})
	controllertest.Run(t, cc, job.New(cc), ttlafterfinished.New(cc), gc)
	ctx := context.Background()

	for _, j := range []*batchv1.Job{newJob("short", ptr.To[int32](2)), newJob("kept", nil), newJob("long", ptr.To[int32](3600)), newJob("running", ptr.To[int32](0))} {
		if _, err := c.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		controllertest.WaitFor(t, what, func(context.Context) (bool, error) { return cond(), nil })
	}
	podOf := func(name string) *corev1.Pod {
		var pod *corev1.Pod
		poll("a pod of "+name, func() bool {
			list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
			if err == nil && len(list.Items) == 1 {
				pod = &list.Items[0]
			}
			return pod != nil
		})
		return pod
	}
	for _, name := range []string{"short", "kept", "long"} {
		pod := podOf(name)
		pod.Status.Phase = corev1.PodSucceeded
		if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running := podOf("running")
	var finished time.Time
	poll("short completing", func() bool {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, "short", metav1.GetOptions{})
		if err == nil && j.Status.CompletionTime != nil {
			finished = j.Status.CompletionTime.Time
		}
		return !finished.IsZero()
	})
	poll("short deleted", func() bool {
		_, err := c.BatchV1().Jobs(ns).Get(ctx, "short", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if time.Since(finished) < 2*time.Second {
		t.Fatalf("deleted %v after finishing, before its 2s TTL", time.Since(finished))
	}
	poll("short's pod deleted", func() bool {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=short"})
		return err == nil && len(list.Items) == 0
	})

	// "long" gets a TTL that has passed already.
	poll("long completing", func() bool {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, "long", metav1.GetOptions{})
		return err == nil && j.Status.CompletionTime != nil
	})
	poll("long's TTL lowered", func() bool {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, "long", metav1.GetOptions{})
		if err != nil {
			return false
		}
		j.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
		_, err = c.BatchV1().Jobs(ns).Update(ctx, j, metav1.UpdateOptions{})
		return err == nil
	})
	poll("long deleted", func() bool {
		_, err := c.BatchV1().Jobs(ns).Get(ctx, "long", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	for _, name := range []string{"kept", "running"} {
		if _, err := c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("job %s: %v", name, err)
		}
	}
	if _, err := c.CoreV1().Pods(ns).Get(ctx, running.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("pod of the unfinished job: %v", err)
	}
}
