package statefulset_test

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"kite/server/controllers"
	"kite/server/controllers/controllertest"
	"kite/server/controllers/garbagecollector"
	"kite/server/controllers/statefulset"
)

const ns = "default"

// env is a test server with the StatefulSet controller (and, on request,
// the garbage collector) running.
type env struct {
	t      *testing.T
	client kubernetes.Interface
	ctx    context.Context
}

func start(t *testing.T, withGC bool) *env {
	t.Helper()
	s, cc := controllertest.Start(t)
	runners := []controllers.Runner{statefulset.New(cc)}
	if withGC {
		runners = append(runners, garbagecollector.New(cc, []garbagecollector.Resource{
			{GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Kind: "Pod", Namespaced: true},
			{GVR: schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, Kind: "PersistentVolumeClaim", Namespaced: true},
			{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, Kind: "StatefulSet", Namespaced: true},
			{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "controllerrevisions"}, Kind: "ControllerRevision", Namespaced: true},
		}))
	}
	controllertest.Run(t, cc, runners...)
	return &env{t: t, client: s.Client, ctx: context.Background()}
}

// newSet is a StatefulSet "name" of replicas pods with a "data" claim
// template, governed by service "svc".
func newSet(name string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "svc",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "c", Image: "busybox:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi"),
					}},
				},
			}},
		},
	}
}

func (e *env) create(set *appsv1.StatefulSet) *appsv1.StatefulSet {
	e.t.Helper()
	created, err := e.client.AppsV1().StatefulSets(ns).Create(e.ctx, set, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating StatefulSet: %v", err)
	}
	return created
}

// updateSet changes the set with change, retrying on conflicts.
func (e *env) updateSet(name string, change func(*appsv1.StatefulSet)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(set)
		_, err = e.client.AppsV1().StatefulSets(ns).Update(e.ctx, set, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("updating StatefulSet %s: %v", name, err)
	}
}

func (e *env) pod(name string) (*corev1.Pod, bool) {
	e.t.Helper()
	pod, err := e.client.CoreV1().Pods(ns).Get(e.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.t.Fatalf("getting pod %s: %v", name, err)
	}
	return pod, true
}

func (e *env) waitPod(name string) *corev1.Pod {
	e.t.Helper()
	var pod *corev1.Pod
	controllertest.WaitFor(e.t, "pod "+name, func(context.Context) (bool, error) {
		p, ok := e.pod(name)
		pod = p
		return ok, nil
	})
	return pod
}

func (e *env) waitPodGone(name string) {
	e.t.Helper()
	controllertest.WaitFor(e.t, "pod "+name+" to go", func(context.Context) (bool, error) {
		_, ok := e.pod(name)
		return !ok, nil
	})
}

func (e *env) assertNoPod(name string) {
	e.t.Helper()
	if _, ok := e.pod(name); ok {
		e.t.Fatalf("pod %s exists, want none", name)
	}
}

// setPhase gives pod the phase, Ready when running, as a kubelet would.
func (e *env) setPhase(name string, phase corev1.PodPhase) {
	e.t.Helper()
	controllertest.UpdatePodStatus(e.t, e.client, ns, name, controllertest.Phase(phase))
}

func (e *env) markReady(name string) {
	e.t.Helper()
	e.waitPod(name)
	e.setPhase(name, corev1.PodRunning)
}

// waitStatus waits until the set's status satisfies cond and returns it.
func (e *env) waitStatus(name, what string, cond func(appsv1.StatefulSetStatus) bool) *appsv1.StatefulSet {
	e.t.Helper()
	var set *appsv1.StatefulSet
	controllertest.WaitFor(e.t, what, func(context.Context) (bool, error) {
		s, err := e.client.AppsV1().StatefulSets(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		set = s
		return s.Status.ObservedGeneration == s.Generation && cond(s.Status), nil
	})
	return set
}

func podName(set string, ordinal int) string { return fmt.Sprintf("%s-%d", set, ordinal) }
