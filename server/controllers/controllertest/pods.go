package controllertest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"kite/server/controllers"
)

// UpdatePodStatus changes the status of pod namespace/name with change,
// as its kubelet would, retrying on conflicts, and returns the result.
func UpdatePodStatus(t testing.TB, c kubernetes.Interface, namespace, name string, change func(*corev1.PodStatus)) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	var updated *corev1.Pod
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(&pod.Status)
		updated, err = c.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("pod %s/%s status: %v", namespace, name, err)
	}
	return updated
}

// Phase gives a pod status the phase, Ready (since now) when running and
// not Ready otherwise.
func Phase(phase corev1.PodPhase) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		ready := corev1.ConditionFalse
		if phase == corev1.PodRunning {
			ready = corev1.ConditionTrue
		}
		s.Phase = phase
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}
	}
}

// Kubelet plays the part of the kubelets the test server lacks: every
// pod of namespace that ready accepts (all when nil) is made Running and
// Ready, until the test ends.
func Kubelet(t testing.TB, c kubernetes.Interface, namespace string, ready func(*corev1.Pod) bool) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	running := Phase(corev1.PodRunning)
	go func() {
		for ctx.Err() == nil {
			pods, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if p.DeletionTimestamp != nil || controllers.IsPodReady(p) || (ready != nil && !ready(p)) {
						continue
					}
					running(&p.Status)
					_, _ = c.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
				}
			}
			time.Sleep(pollInterval)
		}
	}()
}

// Serving gives a pod status phase Running, the address ip and the Ready
// condition (since now) that ready says.
func Serving(ip string, ready bool) func(*corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		s.Phase = corev1.PodRunning
		s.PodIP = ip
		s.PodIPs = []corev1.PodIP{{IP: ip}}
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	}
}
