package daemonset_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/daemonset"
)

const ns = "default"

type env struct {
	t      *testing.T
	client kubernetes.Interface
	ctx    context.Context
}

func start(t *testing.T) *env {
	t.Helper()
	s, cc := controllertest.Start(t)
	controllertest.Run(t, cc, daemonset.New(cc))
	return &env{t: t, client: s.Client, ctx: context.Background()}
}

func (e *env) addNode(name string, labels map[string]string, taints ...corev1.Taint) {
	e.t.Helper()
	controllertest.ReadyNode(e.t, e.client, name, func(n *corev1.Node) {
		n.Labels = labels
		n.Spec.Taints = taints
	})
}

func (e *env) updateNode(name string, change func(*corev1.Node)) {
	e.t.Helper()
	controllertest.UpdateNode(e.t, e.client, name, change)
}

func newDaemonSet(name string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
			},
		},
	}
}

func (e *env) create(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	e.t.Helper()
	created, err := e.client.AppsV1().DaemonSets(ns).Create(e.ctx, ds, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating DaemonSet: %v", err)
	}
	return created
}

func (e *env) updateSet(name string, change func(*appsv1.DaemonSet)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := e.client.AppsV1().DaemonSets(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(ds)
		_, err = e.client.AppsV1().DaemonSets(ns).Update(e.ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("updating DaemonSet %s: %v", name, err)
	}
}

// podsByNode lists the set's live pods by the node their affinity pins
// them to (no scheduler binds them in these tests).
func (e *env) podsByNode(app string) map[string][]corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, pod := range list.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		out[pinnedNode(&pod)] = append(out[pinnedNode(&pod)], pod)
	}
	return out
}

func pinnedNode(pod *corev1.Pod) string {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// waitNodes waits until exactly the given nodes have one pod each.
func (e *env) waitNodes(app string, nodes ...string) map[string][]corev1.Pod {
	e.t.Helper()
	var got map[string][]corev1.Pod
	controllertest.WaitFor(e.t, "pods on "+joinNames(nodes), func(context.Context) (bool, error) {
		got = e.podsByNode(app)
		if len(got) != len(nodes) {
			return false, nil
		}
		for _, n := range nodes {
			if len(got[n]) != 1 {
				return false, nil
			}
		}
		return true, nil
	})
	return got
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ","
		}
		s += n
	}
	return s
}

// setPhase gives a pod the phase, Ready when running, as a kubelet would.
func (e *env) setPhase(name string, phase corev1.PodPhase) {
	e.t.Helper()
	controllertest.UpdatePodStatus(e.t, e.client, ns, name, controllertest.Phase(phase))
}

// readyAll marks every live unready pod of app running and ready.
func (e *env) readyAll(app string) {
	e.t.Helper()
	for _, pods := range e.podsByNode(app) {
		for _, pod := range pods {
			if pod.Status.Phase != corev1.PodRunning {
				e.setPhase(pod.Name, corev1.PodRunning)
			}
		}
	}
}

func (e *env) waitStatus(name, what string, cond func(appsv1.DaemonSetStatus) bool) *appsv1.DaemonSet {
	e.t.Helper()
	var ds *appsv1.DaemonSet
	controllertest.WaitFor(e.t, what, func(context.Context) (bool, error) {
		d, err := e.client.AppsV1().DaemonSets(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ds = d
		return d.Status.ObservedGeneration == d.Generation && cond(d.Status), nil
	})
	return ds
}
