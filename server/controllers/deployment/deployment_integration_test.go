package deployment_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
	"kite/server/controllers/controllertest"
)

const revisionKey = "deployment.kubernetes.io/revision"

// TestIntegrationDeploymentCreateScaleDelete: a new Deployment gets a
// ReplicaSet named after its template hash, with upstream's annotations,
// conditions and events; scaling resizes it; deleting the Deployment
// takes the ReplicaSet and its pods along.
func TestIntegrationDeploymentCreateScaleDelete(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "basic")
	controllertest.Kubelet(t, c, ns, nil)
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, newDeployment("web", "nginx:1.27", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "rolled out", rolledOut(t, c, ns, "web"))
	rss := replicaSets(t, c, ns)
	if len(rss) != 1 {
		t.Fatalf("want 1 ReplicaSet, got %d", len(rss))
	}
	rs := rss[0]
	hash := rs.Labels["pod-template-hash"]
	if hash == "" || rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels["pod-template-hash"] != hash || rs.Spec.Template.Labels["pod-template-hash"] != hash {
		t.Errorf("ReplicaSet %s: labels %v, selector %v", rs.Name, rs.Labels, rs.Spec.Selector)
	}
	wantAnn := map[string]string{revisionKey: "1", "deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4"}
	for k, v := range wantAnn {
		if rs.Annotations[k] != v {
			t.Errorf("ReplicaSet annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if ref := metav1.GetControllerOf(&rs); ref == nil || ref.Kind != "Deployment" || ref.Name != "web" {
		t.Errorf("ReplicaSet controller: %+v", ref)
	}
	d := getDeployment(t, c, ns, "web")
	if d.Annotations[revisionKey] != "1" {
		t.Errorf("deployment revision annotation %q", d.Annotations[revisionKey])
	}
	if cond := condition(d, appsv1.DeploymentAvailable); cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != "MinimumReplicasAvailable" || cond.Message != "Deployment has minimum availability." {
		t.Errorf("Available condition: %+v", cond)
	}
	if cond := condition(d, appsv1.DeploymentProgressing); cond.Status != corev1.ConditionTrue || cond.Message != `ReplicaSet "`+rs.Name+`" has successfully progressed.` {
		t.Errorf("Progressing condition: %+v", cond)
	}
	if d.Status.ReadyReplicas != 3 || d.Status.AvailableReplicas != 3 || d.Status.UnavailableReplicas != 0 || ptr.Deref(d.Status.TerminatingReplicas, -1) != 0 {
		t.Errorf("status: %s", describe(d, rss))
	}
	controllertest.Eventually(t, "scale-up event", func() (bool, string) {
		notes := eventNotes(t, c, ns, "web", "ScalingReplicaSet")
		return contains(notes, "Scaled up replica set "+rs.Name+" from 0 to 3"), strings.Join(notes, "; ")
	})

	sc, err := c.AppsV1().Deployments(ns).GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc.Spec.Replicas = 5
	sc.ResourceVersion = "" // unconditional, as kubectl scale does
	if _, err := c.AppsV1().Deployments(ns).UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "scaled to 5", rolledOut(t, c, ns, "web"))
	rs = replicaSets(t, c, ns)[0]
	if *rs.Spec.Replicas != 5 || rs.Annotations["deployment.kubernetes.io/desired-replicas"] != "5" || rs.Annotations["deployment.kubernetes.io/max-replicas"] != "7" {
		t.Errorf("after scaling: replicas %d, annotations %v", *rs.Spec.Replicas, rs.Annotations)
	}
	controllertest.Eventually(t, "second scale-up event", func() (bool, string) {
		notes := eventNotes(t, c, ns, "web", "ScalingReplicaSet")
		return contains(notes, "Scaled up replica set "+rs.Name+" from 3 to 5"), strings.Join(notes, "; ")
	})

	if err := c.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "cascade", func() (bool, string) {
		pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		rss := replicaSets(t, c, ns)
		return len(pods.Items) == 0 && len(rss) == 0, ""
	})
}

// TestIntegrationDeploymentRollingUpdate: an image change rolls out within
// maxSurge and maxUnavailable at every step a watch can see.
func TestIntegrationDeploymentRollingUpdate(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "rolling")
	controllertest.Kubelet(t, c, ns, nil)
	d := newDeployment("web", "app:v1", 4)
	d.Spec.Strategy = rollingUpdate(1, 1)
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "first rollout", rolledOut(t, c, ns, "web"))

	bounds := watchBounds(t, c, ns)
	update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "app:v2" })
	controllertest.Eventually(t, "second rollout", rolledOut(t, c, ns, "web"))
	maxSpec, minReady := bounds()
	if maxSpec > 5 {
		t.Errorf("the ReplicaSets wanted %d pods at once; maxSurge allows 4+1", maxSpec)
	}
	if minReady < 3 {
		t.Errorf("only %d pods were ready at one point; maxUnavailable allows 4-1", minReady)
	}
	rss := replicaSets(t, c, ns)
	if len(rss) != 2 || *rss[0].Spec.Replicas != 0 || *rss[1].Spec.Replicas != 4 || rss[1].Annotations[revisionKey] != "2" ||
		rss[1].Spec.Template.Spec.Containers[0].Image != "app:v2" {
		t.Errorf("after the rollout: %s", describe(getDeployment(t, c, ns, "web"), rss))
	}
}

// watchBounds watches ns from now on and reports the most pods the
// ReplicaSets asked for at once and the fewest ready pods there were.
func watchBounds(t *testing.T, c kubernetes.Interface, ns string) func() (maxSpec, minReady int) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rsW, err := c.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podList, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podW, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: podList.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	specs := map[types.UID]int32{}
	ready := map[types.UID]bool{}
	for _, p := range podList.Items {
		if controllers.IsPodReady(&p) && p.DeletionTimestamp == nil {
			ready[p.UID] = true
		}
	}
	maxSpec, minReady := 0, len(ready)
	go func() {
		for ev := range rsW.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(specs, rs.UID)
			} else {
				specs[rs.UID] = *rs.Spec.Replicas
			}
			sum := 0
			for _, n := range specs {
				sum += int(n)
			}
			maxSpec = max(maxSpec, sum)
			mu.Unlock()
		}
	}()
	go func() {
		for ev := range podW.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil || !controllers.IsPodReady(p) {
				delete(ready, p.UID)
			} else {
				ready[p.UID] = true
			}
			minReady = min(minReady, len(ready))
			mu.Unlock()
		}
	}()
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return maxSpec, minReady
	}
}

// TestIntegrationDeploymentRecreate: the new pods start only once every
// old pod is gone.
func TestIntegrationDeploymentRecreate(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "recreate")
	controllertest.Kubelet(t, c, ns, nil)
	d := newDeployment("db", "db:v1", 3)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "first rollout", rolledOut(t, c, ns, "db"))
	oldHash := replicaSets(t, c, ns)[0].Labels["pod-template-hash"]

	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	var overlap []string
	go func() {
		live := map[string]string{} // pod name -> hash
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(live, p.Name)
			} else {
				live[p.Name] = p.Labels["pod-template-hash"]
			}
			if h := p.Labels["pod-template-hash"]; ev.Type == watch.Added && h != oldHash {
				for name, other := range live {
					if other == oldHash {
						overlap = append(overlap, p.Name+" beside "+name)
					}
				}
			}
			mu.Unlock()
		}
	}()
	update(t, c, ns, "db", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "db:v2" })
	controllertest.Eventually(t, "second rollout", rolledOut(t, c, ns, "db"))
	mu.Lock()
	defer mu.Unlock()
	if len(overlap) > 0 {
		t.Errorf("new pods started beside old ones: %v", overlap)
	}
	if rss := replicaSets(t, c, ns); len(rss) != 2 || *rss[0].Spec.Replicas != 0 {
		t.Errorf("after the rollout: %s", describe(getDeployment(t, c, ns, "db"), rss))
	}
}

// TestIntegrationDeploymentStuckRollout: pods of a new template that never
// become ready stop the rollout at maxUnavailable and the Deployment
// reports ProgressDeadlineExceeded; scaling meanwhile is spread over both
// ReplicaSets in proportion; `kubectl rollout undo` brings the old
// ReplicaSet back as the newest revision.
func TestIntegrationDeploymentStuckRollout(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "stuck")
	controllertest.Kubelet(t, c, ns, func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image != "app:broken" })
	d := newDeployment("web", "app:v1", 4)
	d.Spec.Strategy = rollingUpdate(1, 1)
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(2))
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "first rollout", rolledOut(t, c, ns, "web"))

	update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "app:broken" })
	var newRS string
	controllertest.Eventually(t, "deadline exceeded", func() (bool, string) {
		d := getDeployment(t, c, ns, "web")
		rss := replicaSets(t, c, ns)
		cond := condition(d, appsv1.DeploymentProgressing)
		if len(rss) != 2 || cond == nil {
			return false, describe(d, rss)
		}
		newRS = rss[1].Name
		return cond.Status == corev1.ConditionFalse && cond.Reason == "ProgressDeadlineExceeded" &&
			cond.Message == `ReplicaSet "`+newRS+`" has timed out progressing.`, describe(d, rss)
	})
	d = getDeployment(t, c, ns, "web")
	rss := replicaSets(t, c, ns)
	if *rss[0].Spec.Replicas != 3 || *rss[1].Spec.Replicas != 2 || d.Status.AvailableReplicas != 3 || d.Status.UnavailableReplicas != 2 {
		t.Errorf("a stuck rollout should keep 3 old and try 2 new pods: %s", describe(d, rss))
	}
	if cond := condition(d, appsv1.DeploymentAvailable); cond == nil || cond.Status != corev1.ConditionTrue {
		t.Errorf("Available condition: %+v", cond)
	}

	// Scaled mid-rollout from 4 (max 5) to 8 (max 9): 3 old and 2 new
	// pods grow in proportion to 5 and 4.
	update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(8)) })
	controllertest.Eventually(t, "proportional scaling", func() (bool, string) {
		rss := replicaSets(t, c, ns)
		return len(rss) == 2 && *rss[0].Spec.Replicas == 5 && *rss[1].Spec.Replicas == 4, describe(getDeployment(t, c, ns, "web"), rss)
	})

	// kubectl rollout undo: the template of revision 1, without its hash
	// label, goes back into the Deployment.
	old := replicaSets(t, c, ns)[0]
	update(t, c, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template = *old.Spec.Template.DeepCopy()
		delete(d.Spec.Template.Labels, "pod-template-hash")
	})
	controllertest.Eventually(t, "rolled back", rolledOut(t, c, ns, "web"))
	rss = replicaSets(t, c, ns)
	if len(rss) != 2 || rss[1].Name != old.Name || rss[1].Annotations[revisionKey] != "3" ||
		rss[1].Annotations["deployment.kubernetes.io/revision-history"] != "1" || *rss[0].Spec.Replicas != 0 {
		t.Errorf("after undo the old ReplicaSet should be revision 3: %s", describe(getDeployment(t, c, ns, "web"), rss))
	}
	if got := getDeployment(t, c, ns, "web").Annotations[revisionKey]; got != "3" {
		t.Errorf("deployment revision %q after undo", got)
	}
}

// TestIntegrationDeploymentPauseResume: a paused Deployment rolls nothing
// out but still scales; resumed, it rolls out.
func TestIntegrationDeploymentPauseResume(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "pause")
	controllertest.Kubelet(t, c, ns, nil)
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, newDeployment("web", "app:v1", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "first rollout", rolledOut(t, c, ns, "web"))

	w, err := c.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	reasons := map[string]string{}
	go func() {
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok {
				if cond := condition(d, appsv1.DeploymentProgressing); cond != nil {
					mu.Lock()
					reasons[cond.Reason] = cond.Message
					mu.Unlock()
				}
			}
		}
	}()

	update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Spec.Paused = true })
	controllertest.Eventually(t, "paused condition", func() (bool, string) {
		d := getDeployment(t, c, ns, "web")
		cond := condition(d, appsv1.DeploymentProgressing)
		return cond != nil && cond.Status == corev1.ConditionUnknown && cond.Reason == "DeploymentPaused" && cond.Message == "Deployment is paused", describe(d, nil)
	})
	update(t, c, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "app:v2"
		d.Spec.Replicas = ptr.To(int32(3))
	})
	controllertest.Eventually(t, "scaled while paused", func() (bool, string) {
		d := getDeployment(t, c, ns, "web")
		rss := replicaSets(t, c, ns)
		return d.Status.ObservedGeneration == d.Generation && len(rss) == 1 && *rss[0].Spec.Replicas == 3 && rss[0].Status.AvailableReplicas == 3, describe(d, rss)
	})
	if rss := replicaSets(t, c, ns); len(rss) != 1 || rss[0].Spec.Template.Spec.Containers[0].Image != "app:v1" {
		t.Fatalf("a paused Deployment rolled out: %s", describe(getDeployment(t, c, ns, "web"), rss))
	}

	update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	controllertest.Eventually(t, "resumed rollout", rolledOut(t, c, ns, "web"))
	if rss := replicaSets(t, c, ns); len(rss) != 2 || rss[1].Spec.Template.Spec.Containers[0].Image != "app:v2" {
		t.Errorf("after resume: %s", describe(getDeployment(t, c, ns, "web"), rss))
	}
	mu.Lock()
	defer mu.Unlock()
	if reasons["DeploymentResumed"] != "Deployment is resumed" {
		t.Errorf("Progressing reasons seen: %v", reasons)
	}
}

// TestIntegrationDeploymentHistory: revisionHistoryLimit keeps that many
// old ReplicaSets; `kubectl rollout restart` rolls out a new one; the
// deprecated rollback annotation rolls back to the previous revision.
func TestIntegrationDeploymentHistory(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	ns := controllertest.Namespace(t, c, "history")
	controllertest.Kubelet(t, c, ns, nil)
	d := newDeployment("web", "app:v1", 1)
	d.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Eventually(t, "first rollout", rolledOut(t, c, ns, "web"))
	for _, image := range []string{"app:v2", "app:v3"} {
		update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
		controllertest.Eventually(t, image, rolledOut(t, c, ns, "web"))
	}
	// kubectl rollout restart
	update(t, c, ns, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}
	})
	controllertest.Eventually(t, "restart", rolledOut(t, c, ns, "web"))
	controllertest.Eventually(t, "history trimmed", func() (bool, string) {
		rss := replicaSets(t, c, ns)
		return len(rss) == 2 && rss[0].Annotations[revisionKey] == "3" && rss[1].Annotations[revisionKey] == "4" &&
			rss[1].Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "", describe(getDeployment(t, c, ns, "web"), rss)
	})

	update(t, c, ns, "web", func(d *appsv1.Deployment) { d.Annotations[appsv1.DeprecatedRollbackTo] = "0" })
	controllertest.Eventually(t, "rolled back", func() (bool, string) {
		d := getDeployment(t, c, ns, "web")
		ok, msg := rolledOut(t, c, ns, "web")()
		return ok && d.Annotations[appsv1.DeprecatedRollbackTo] == "" && d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" &&
			d.Annotations[revisionKey] == "5", msg
	})
	controllertest.Eventually(t, "rollback event", func() (bool, string) {
		notes := eventNotes(t, c, ns, "web", "DeploymentRollback")
		return contains(notes, `Rolled back deployment "web" to revision 3`), strings.Join(notes, "; ")
	})
}
