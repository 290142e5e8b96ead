package deployment_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/deployment"
	"kite/server/controllers/garbagecollector"
	"kite/server/controllers/replicaset"
)

// start runs an API server with the Deployment, ReplicaSet and garbage
// collector controllers.
func start(t *testing.T) kubernetes.Interface {
	t.Helper()
	s, cc := controllertest.Start(t)
	gc := garbagecollector.New(cc, []garbagecollector.Resource{
		{GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, Kind: "Pod", Namespaced: true},
		{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, Kind: "ReplicaSet", Namespaced: true},
		{GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, Kind: "Deployment", Namespaced: true},
	})
	controllertest.Run(t, cc, deployment.New(cc), replicaset.New(cc), gc)
	return s.Client
}

// newDeployment is what `kubectl create deployment name --image=image
// --replicas=n` sends.
func newDeployment(name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
			},
		},
	}
}

func rollingUpdate(surge, unavailable int) appsv1.DeploymentStrategy {
	s, u := intstr.FromInt(surge), intstr.FromInt(unavailable)
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}}
}

func getDeployment(t *testing.T, c kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// replicaSets lists the ReplicaSets of ns, oldest revision first.
func replicaSets(t *testing.T, c kubernetes.Interface, ns string) []appsv1.ReplicaSet {
	t.Helper()
	list, err := c.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].Annotations["deployment.kubernetes.io/revision"] < list.Items[j].Annotations["deployment.kubernetes.io/revision"]
	})
	return list.Items
}

func describe(d *appsv1.Deployment, rss []appsv1.ReplicaSet) string {
	s := d.Status
	out := fmt.Sprintf("gen=%d observed=%d replicas=%d updated=%d ready=%d available=%d unavailable=%d",
		d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.UnavailableReplicas)
	for _, c := range s.Conditions {
		out += fmt.Sprintf(" [%s=%s %s %q]", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, rs := range rss {
		out += fmt.Sprintf(" {%s rev=%s spec=%d status=%d/%d}", rs.Name, rs.Annotations["deployment.kubernetes.io/revision"], *rs.Spec.Replicas, rs.Status.Replicas, rs.Status.AvailableReplicas)
	}
	return out
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// rolledOut is what `kubectl rollout status` waits for.
func rolledOut(t *testing.T, c kubernetes.Interface, ns, name string) func() (bool, string) {
	return func() (bool, string) {
		d := getDeployment(t, c, ns, name)
		s := d.Status
		done := d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == *d.Spec.Replicas &&
			s.Replicas == s.UpdatedReplicas && s.AvailableReplicas == s.UpdatedReplicas
		if cond := condition(d, appsv1.DeploymentProgressing); cond == nil || cond.Reason != "NewReplicaSetAvailable" {
			done = false
		}
		return done, describe(d, replicaSets(t, c, ns))
	}
}

// update applies change to the Deployment, retrying on conflicts.
func update(t *testing.T, c kubernetes.Interface, ns, name string, change func(*appsv1.Deployment)) {
	t.Helper()
	for {
		d := getDeployment(t, c, ns, name)
		change(d)
		_, err := c.AppsV1().Deployments(ns).Update(context.Background(), d, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "the object has been modified") {
			t.Fatal(err)
		}
	}
}

// eventNotes lists the notes of the deployment-controller's events about
// name with reason.
func eventNotes(t *testing.T, c kubernetes.Interface, ns, name, reason string) []string {
	t.Helper()
	var out []string
	for _, e := range controllertest.EventsAbout(t, c, ns, name) {
		if e.Reason == reason && e.ReportingController == "deployment-controller" {
			out = append(out, e.Note)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
