package job_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/job"
)

const ns = "default"

type env struct {
	t      *testing.T
	client kubernetes.Interface
	ctx    context.Context
}

// start runs an API server with the Job controller. The tests mostly
// wait (for batched syncs), so they run in parallel.
func start(t *testing.T, opts ...job.Option) *env {
	t.Helper()
	t.Parallel()
	s, cc := controllertest.Start(t)
	controllertest.Run(t, cc, job.New(cc, opts...))
	return &env{t: t, client: s.Client, ctx: context.Background()}
}

func newJob(name string, completions, parallelism *int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			Completions: completions,
			Parallelism: parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
			}},
		},
	}
}

func (e *env) create(j *batchv1.Job) *batchv1.Job {
	e.t.Helper()
	created, err := e.client.BatchV1().Jobs(ns).Create(e.ctx, j, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating job: %v", err)
	}
	return created
}

func (e *env) job(name string) *batchv1.Job {
	e.t.Helper()
	j, err := e.client.BatchV1().Jobs(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("getting job: %v", err)
	}
	return j
}

// pods lists the Job's pods, by the label the API server puts on them.
func (e *env) pods(jobName string) []corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + jobName})
	if err != nil {
		e.t.Fatalf("listing pods: %v", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func running(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	controllertest.WaitFor(e.t, what, func(context.Context) (bool, error) { return cond(), nil })
}

// waitRunning waits until exactly n pods of the Job run, and returns them.
func (e *env) waitRunning(jobName string, n int) []corev1.Pod {
	e.t.Helper()
	var pods []corev1.Pod
	e.waitFor(fmt.Sprintf("%d running pods of %s", n, jobName), func() bool {
		pods = running(e.pods(jobName))
		return len(pods) == n
	})
	return pods
}

// finish sets a pod's phase the way a kubelet would, its container
// having ended an hour ago (so no failure backoff applies).
func (e *env) finish(pod corev1.Pod, phase corev1.PodPhase) {
	e.t.Helper()
	code := int32(0)
	if phase == corev1.PodFailed {
		code = 1
	}
	ended := metav1.NewTime(time.Now().Add(-time.Hour))
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "work", Image: "busybox",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: ended, FinishedAt: ended}},
	}}
	if _, err := e.client.CoreV1().Pods(ns).UpdateStatus(e.ctx, &pod, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("setting pod %s %s: %v", pod.Name, phase, err)
	}
}

func (e *env) waitCondition(name string, t batchv1.JobConditionType) *batchv1.Job {
	e.t.Helper()
	var j *batchv1.Job
	e.waitFor(fmt.Sprintf("job %s %s", name, t), func() bool {
		j = e.job(name)
		for _, c := range j.Status.Conditions {
			if c.Type == t && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	return j
}

func conditionSummary(j *batchv1.Job) string {
	var parts []string
	for _, c := range j.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return strings.Join(parts, ",")
}

// eventReasons lists the reasons of the events about an object.
func (e *env) eventReasons(name string) []string {
	e.t.Helper()
	var out []string
	for _, ev := range controllertest.EventsAbout(e.t, e.client, ns, name) {
		out = append(out, ev.Reason)
	}
	return out
}

func (e *env) waitEvent(name, reason string) {
	e.t.Helper()
	e.waitFor("event "+reason+" for "+name, func() bool { return slices.Contains(e.eventReasons(name), reason) })
}

// TestIntegrationJobCompletions: a Job with completions 4 and parallelism
// 2 never runs more than 2 pods, replaces succeeded ones until 4
// succeeded, then completes with SuccessCriteriaMet before Complete.
func TestIntegrationJobCompletions(t *testing.T) {
	e := start(t)
	created := e.create(newJob("work", ptr.To[int32](4), ptr.To[int32](2)))
	for done := 0; done < 4; {
		pods := e.waitRunning("work", min(2, 4-done))
		for _, p := range e.pods("work") {
			if n := len(running(e.pods("work"))); n > 2 {
				t.Fatalf("%d pods running, parallelism is 2", n)
			}
			if p.Labels[batchv1.ControllerUidLabel] != string(created.UID) || p.Labels["controller-uid"] != string(created.UID) ||
				p.Labels[batchv1.JobNameLabel] != "work" || p.Labels["job-name"] != "work" {
				t.Fatalf("pod labels %v", p.Labels)
			}
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != created.UID || ref.Kind != "Job" {
				t.Fatalf("pod controller %v", ref)
			}
		}
		if !slices.Contains(pods[0].Finalizers, batchv1.JobTrackingFinalizer) {
			t.Fatalf("running pod without the tracking finalizer: %v", pods[0].Finalizers)
		}
		e.finish(pods[0], corev1.PodSucceeded)
		done++
	}
	j := e.waitCondition("work", batchv1.JobComplete)
	if got := conditionSummary(j); got != "SuccessCriteriaMet=True/CompletionsReached,Complete=True/CompletionsReached" {
		t.Fatalf("conditions %s", got)
	}
	if j.Status.Succeeded != 4 || j.Status.Failed != 0 || j.Status.Active != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
		t.Fatalf("status %+v", j.Status)
	}
	if u := j.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Fatalf("uncounted pods left: %+v", u)
	}
	for _, p := range e.pods("work") {
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Fatalf("pod %s kept the tracking finalizer after being counted", p.Name)
		}
	}
	e.waitEvent("work", "SuccessfulCreate")
	e.waitEvent("work", "Completed")
}

// TestIntegrationJobNoCompletions: without completions, the first
// success completes the Job once the other pods are done.
func TestIntegrationJobNoCompletions(t *testing.T) {
	e := start(t)
	e.create(newJob("any", nil, ptr.To[int32](2)))
	pods := e.waitRunning("any", 2)
	e.finish(pods[0], corev1.PodSucceeded)
	time.Sleep(1500 * time.Millisecond) // a sync passes: the other pod runs on, nothing new starts
	if n := len(running(e.pods("any"))); n != 1 {
		t.Fatalf("%d pods running after one success, want the other one only", n)
	}
	if j := e.job("any"); len(j.Status.Conditions) != 0 {
		t.Fatalf("finished while a pod runs: %s", conditionSummary(j))
	}
	e.finish(pods[1], corev1.PodSucceeded)
	j := e.waitCondition("any", batchv1.JobComplete)
	if j.Status.Succeeded != 2 {
		t.Fatalf("succeeded %d, want 2", j.Status.Succeeded)
	}
}

// TestIntegrationJobBackoffLimit: failed pods are replaced until more
// than backoffLimit failed; then the Job gets FailureTarget and Failed
// with reason BackoffLimitExceeded, and its running pods are deleted.
func TestIntegrationJobBackoffLimit(t *testing.T) {
	e := start(t)
	j := newJob("flaky", ptr.To[int32](3), ptr.To[int32](2))
	j.Spec.BackoffLimit = ptr.To[int32](1)
	e.create(j)
	pods := e.waitRunning("flaky", 2)
	e.finish(pods[0], corev1.PodFailed)
	e.waitFor("the failed pod replaced and counted", func() bool {
		j := e.job("flaky")
		return len(running(e.pods("flaky"))) == 2 && j.Status.Failed == 1
	})
	pods = running(e.pods("flaky"))
	e.finish(pods[0], corev1.PodFailed)
	j = e.waitCondition("flaky", batchv1.JobFailed)
	if got := conditionSummary(j); got != "FailureTarget=True/BackoffLimitExceeded,Failed=True/BackoffLimitExceeded" {
		t.Fatalf("conditions %s", got)
	}
	// The second failure plus the pod deleted because the Job failed.
	if j.Status.Failed != 3 || j.Status.Active != 0 || j.Status.CompletionTime != nil || ptr.Deref(j.Status.Terminating, -1) != 0 {
		t.Fatalf("status %+v", j.Status)
	}
	if c := j.Status.Conditions[1]; c.Message != "Job has reached the specified backoff limit" {
		t.Fatalf("message %q", c.Message)
	}
	e.waitFor("running pods deleted", func() bool { return len(running(e.pods("flaky"))) == 0 })
	e.waitEvent("flaky", "BackoffLimitExceeded")
	e.waitEvent("flaky", "SuccessfulDelete")
}

// TestIntegrationJobActiveDeadline: a Job running longer than
// activeDeadlineSeconds fails with DeadlineExceeded and loses its pods.
func TestIntegrationJobActiveDeadline(t *testing.T) {
	e := start(t)
	j := newJob("slow", ptr.To[int32](2), ptr.To[int32](2))
	j.Spec.ActiveDeadlineSeconds = ptr.To[int64](2)
	e.create(j)
	e.waitRunning("slow", 2)
	j = e.waitCondition("slow", batchv1.JobFailed)
	if got := conditionSummary(j); got != "FailureTarget=True/DeadlineExceeded,Failed=True/DeadlineExceeded" {
		t.Fatalf("conditions %s", got)
	}
	if j.Status.Active != 0 || j.Status.Failed != 2 {
		t.Fatalf("status %+v", j.Status)
	}
	e.waitFor("pods gone", func() bool { return len(e.pods("slow")) == 0 })
	e.waitEvent("slow", "DeadlineExceeded")
}

// TestIntegrationJobIndexed: each index gets one pod with its index in
// annotation, label, hostname and name; completedIndexes is the compressed
// range of succeeded indexes; a failed index is retried.
func TestIntegrationJobIndexed(t *testing.T) {
	e := start(t)
	j := newJob("idx", ptr.To[int32](5), ptr.To[int32](5))
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	e.create(j)
	pods := e.waitRunning("idx", 5)
	byIndex := map[string]corev1.Pod{}
	for _, p := range pods {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "idx-"+ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
			t.Fatalf("pod %s: index %q, label %q, hostname %q", p.Name, ix, p.Labels[batchv1.JobCompletionIndexAnnotation], p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/job-completion-index']" {
			t.Fatalf("pod env %+v", env)
		}
		byIndex[ix] = p
	}
	if len(byIndex) != 5 {
		t.Fatalf("indexes %v", byIndex)
	}
	for _, ix := range []string{"1", "3", "4"} {
		e.finish(byIndex[ix], corev1.PodSucceeded)
	}
	e.waitFor("completedIndexes 1,3,4", func() bool { return e.job("idx").Status.CompletedIndexes == "1,3,4" })
	e.finish(byIndex["0"], corev1.PodFailed)
	var retry corev1.Pod
	e.waitFor("index 0 retried", func() bool {
		for _, p := range running(e.pods("idx")) {
			if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
				retry = p
				return true
			}
		}
		return false
	})
	e.finish(retry, corev1.PodSucceeded)
	e.waitFor("completedIndexes 0,1,3,4", func() bool { return e.job("idx").Status.CompletedIndexes == "0,1,3,4" })
	e.finish(byIndex["2"], corev1.PodSucceeded)
	j = e.waitCondition("idx", batchv1.JobComplete)
	if j.Status.CompletedIndexes != "0-4" || j.Status.Succeeded != 5 || j.Status.Failed != 1 {
		t.Fatalf("status %+v", j.Status)
	}
}

// TestIntegrationJobBackoffLimitPerIndex: an index that fails more than
// backoffLimitPerIndex times is failed for good; the others go on, and
// the Job fails with FailedIndexes once all indexes are decided.
func TestIntegrationJobBackoffLimitPerIndex(t *testing.T) {
	e := start(t, job.WithPodFailureBackoff(10*time.Millisecond, 10*time.Millisecond))
	j := newJob("per", ptr.To[int32](2), ptr.To[int32](2))
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
	e.create(j)
	index := func(p corev1.Pod) string { return p.Annotations[batchv1.JobCompletionIndexAnnotation] }
	podOf := func(ix string) corev1.Pod {
		var found corev1.Pod
		e.waitFor("a running pod of index "+ix, func() bool {
			for _, p := range running(e.pods("per")) {
				if index(p) == ix {
					found = p
					return true
				}
			}
			return false
		})
		return found
	}
	first := podOf("0")
	e.finish(first, corev1.PodFailed)
	second := podOf("0")
	if second.Annotations[batchv1.JobIndexFailureCountAnnotation] != "1" || first.Annotations[batchv1.JobIndexFailureCountAnnotation] != "0" {
		t.Fatalf("failure counts %q then %q", first.Annotations[batchv1.JobIndexFailureCountAnnotation], second.Annotations[batchv1.JobIndexFailureCountAnnotation])
	}
	e.finish(second, corev1.PodFailed)
	e.waitFor("index 0 failed for good", func() bool { return ptr.Deref(e.job("per").Status.FailedIndexes, "") == "0" })
	e.finish(podOf("1"), corev1.PodSucceeded)
	j = e.waitCondition("per", batchv1.JobFailed)
	if got := conditionSummary(j); got != "FailureTarget=True/FailedIndexes,Failed=True/FailedIndexes" {
		t.Fatalf("conditions %s", got)
	}
	if j.Status.CompletedIndexes != "1" || j.Status.Failed != 2 || j.Status.Succeeded != 1 {
		t.Fatalf("status %+v", j.Status)
	}
}

// TestIntegrationJobSuspend: a suspended Job runs no pods and says so; on
// resume it starts them and restarts startTime; suspending again deletes
// them without counting failures. Parallelism 0 runs nothing either.
func TestIntegrationJobSuspend(t *testing.T) {
	e := start(t)
	j := newJob("later", ptr.To[int32](2), ptr.To[int32](2))
	j.Spec.Suspend = ptr.To(true)
	e.create(j)
	j = e.waitCondition("later", batchv1.JobSuspended)
	if j.Status.StartTime != nil || len(e.pods("later")) != 0 {
		t.Fatalf("suspended job started: %+v, %d pods", j.Status, len(e.pods("later")))
	}
	e.waitEvent("later", "Suspended")
	setSuspend := func(v bool) {
		err := wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			j := e.job("later")
			j.Spec.Suspend = ptr.To(v)
			_, err := e.client.BatchV1().Jobs(ns).Update(e.ctx, j, metav1.UpdateOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("setting suspend %v: %v", v, err)
		}
	}
	setSuspend(false)
	e.waitRunning("later", 2)
	e.waitFor("resumed condition", func() bool {
		j := e.job("later")
		return conditionSummary(j) == "Suspended=False/JobResumed" && j.Status.StartTime != nil && j.Status.Active == 2
	})
	e.waitEvent("later", "Resumed")
	setSuspend(true)
	e.waitFor("pods deleted on suspension", func() bool { return len(e.pods("later")) == 0 })
	e.waitFor("suspended status", func() bool {
		j := e.job("later")
		return j.Status.Active == 0 && ptr.Deref(j.Status.Terminating, -1) == 0 && conditionSummary(j) == "Suspended=True/JobSuspended"
	})
	if j := e.job("later"); j.Status.Failed != 0 {
		t.Fatalf("suspension counted %d failures", j.Status.Failed)
	}

	idle := newJob("idle", ptr.To[int32](2), ptr.To[int32](0))
	e.create(idle)
	e.waitFor("status of a Job with parallelism 0", func() bool { return e.job("idle").Status.Ready != nil })
	if len(e.pods("idle")) != 0 {
		t.Fatal("parallelism 0 started pods")
	}
}

// TestIntegrationJobPodFailurePolicy: a FailJob rule fails the Job at
// once with reason PodFailurePolicy; an Ignore rule does not count.
func TestIntegrationJobPodFailurePolicy(t *testing.T) {
	e := start(t)
	j := newJob("policy", ptr.To[int32](1), ptr.To[int32](1))
	j.Spec.BackoffLimit = ptr.To[int32](0)
	j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}},
	}}
	e.create(j)
	pod := e.waitRunning("policy", 1)[0]
	// Disrupted: ignored although backoffLimit is 0.
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler"}}
	e.finish(pod, corev1.PodFailed)
	pod = e.waitRunning("policy", 1)[0]
	if j := e.job("policy"); j.Status.Failed != 0 || len(j.Status.Conditions) != 0 {
		t.Fatalf("ignored failure counted: %+v", j.Status)
	}
	e.finish(pod, corev1.PodFailed) // exit code 1
	j = e.waitCondition("policy", batchv1.JobFailed)
	if got := conditionSummary(j); got != "FailureTarget=True/PodFailurePolicy,Failed=True/PodFailurePolicy" {
		t.Fatalf("conditions %s", got)
	}
	want := fmt.Sprintf("Container work for pod default/%s failed with exit code 1 matching FailJob rule at index 1", pod.Name)
	if j.Status.Conditions[1].Message != want {
		t.Fatalf("message %q, want %q", j.Status.Conditions[1].Message, want)
	}
}

// TestIntegrationJobDeletedReleasesPods: deleting a running Job leaves
// no pod stuck on the tracking finalizer.
func TestIntegrationJobDeletedReleasesPods(t *testing.T) {
	e := start(t)
	e.create(newJob("gone", ptr.To[int32](1), ptr.To[int32](1)))
	pod := e.waitRunning("gone", 1)[0]
	orphan := metav1.DeletePropagationOrphan
	if err := e.client.BatchV1().Jobs(ns).Delete(e.ctx, "gone", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("finalizer released", func() bool {
		p, err := e.client.CoreV1().Pods(ns).Get(e.ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer))
	})
}

// TestIntegrationJobAdoptsAndReleases: a Job with a manual selector
// adopts a matching orphan pod (controller reference and tracking
// finalizer) instead of creating one; a pod left with the tracking
// finalizer and no Job loses the finalizer.
func TestIntegrationJobAdoptsAndReleases(t *testing.T) {
	e := start(t)
	pod := func(name string, labels map[string]string, finalizers ...string) *corev1.Pod {
		p, err := e.client.CoreV1().Pods(ns).Create(e.ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: finalizers},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "work", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	stray := pod("stray", map[string]string{"app": "nobody"}, batchv1.JobTrackingFinalizer)
	pod("adoptee", map[string]string{"app": "mine"})
	j := newJob("adopter", ptr.To[int32](1), ptr.To[int32](1))
	j.Spec.ManualSelector = ptr.To(true)
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "mine"}}
	j.Spec.Template.Labels = map[string]string{"app": "mine"}
	created := e.create(j)
	var adopted *corev1.Pod
	e.waitFor("adoption", func() bool {
		p, err := e.client.CoreV1().Pods(ns).Get(e.ctx, "adoptee", metav1.GetOptions{})
		if err != nil {
			return false
		}
		ref := metav1.GetControllerOf(p)
		adopted = p
		return ref != nil && ref.UID == created.UID && slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
	})
	e.waitFor("status counting the adopted pod", func() bool { return e.job("adopter").Status.Active == 1 })
	list, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=mine"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("pods of the job: %d (%v), want the adopted one only", len(list.Items), err)
	}
	e.finish(*adopted, corev1.PodSucceeded)
	e.waitCondition("adopter", batchv1.JobComplete)
	e.waitFor("stray pod released", func() bool {
		p, err := e.client.CoreV1().Pods(ns).Get(e.ctx, stray.Name, metav1.GetOptions{})
		return err == nil && !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
	})
}
