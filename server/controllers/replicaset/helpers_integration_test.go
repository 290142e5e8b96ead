package replicaset_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/replicaset"
	"kite/server/servertest"
)

// start runs an API server and the ReplicaSet controller against it.
func start(t *testing.T) kubernetes.Interface {
	t.Helper()
	s := servertest.Start(t)
	cc := s.ControllerContext(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go cc.Run(ctx, replicaset.New(cc))
	return s.Client
}

func namespace(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
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

// kubelet plays the part of the kubelets the test server lacks: every
// pod of namespace that ready accepts (all when nil) is made Running and
// Ready, until the test ends.
func kubelet(t *testing.T, c kubernetes.Interface, ns string, ready func(*corev1.Pod) bool) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range pods.Items {
					p := &pods.Items[i]
					if p.DeletionTimestamp != nil || podReady(p) || (ready != nil && !ready(p)) {
						continue
					}
					markReady(ctx, c, p)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

func markReady(ctx context.Context, c kubernetes.Interface, p *corev1.Pod) {
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	_, _ = c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// eventually polls cond for up to 30 seconds; on time-out the test fails
// with what cond last said.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		ok, msg := cond()
		last = msg
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: timed out; last: %s", what, last)
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
	evs, err := c.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			if e.ReportingController != "replicaset-controller" {
				t.Errorf("event %s reported by %q", e.Name, e.ReportingController)
			}
			out = append(out, e.Note)
		}
	}
	return out
}
