package replicaset_test

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/replicaset"
)

// start runs an API server and the ReplicaSet controller against it.
func start(t *testing.T) kubernetes.Interface {
	t.Helper()
	s, cc := controllertest.Start(t)
	controllertest.Run(t, cc, replicaset.New(cc))
	return s.Client
}

func newRS(name string, replicas int32, app string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func activePods(t *testing.T, c kubernetes.Interface, ns, selector string) []corev1.Pod {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func getRS(t *testing.T, c kubernetes.Interface, ns, name string) *appsv1.ReplicaSet {
	t.Helper()
	rs, err := c.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func statusString(s appsv1.ReplicaSetStatus) string {
	term := "nil"
	if s.TerminatingReplicas != nil {
		term = fmt.Sprint(*s.TerminatingReplicas)
	}
	return fmt.Sprintf("replicas=%d labeled=%d ready=%d available=%d terminating=%s observed=%d conditions=%v",
		s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, term, s.ObservedGeneration, s.Conditions)
}

// eventNotes lists the notes of the events reported about object name
// with reason.
func eventNotes(t *testing.T, c kubernetes.Interface, ns, name, reason string) []string {
	t.Helper()
	var out []string
	for _, e := range controllertest.EventsAbout(t, c, ns, name) {
		if e.Reason == reason {
			if e.ReportingController != "replicaset-controller" {
				t.Errorf("event %s reported by %q", e.Name, e.ReportingController)
			}
			out = append(out, e.Note)
		}
	}
	return out
}
