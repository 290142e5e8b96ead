package cronjob_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"kite/server/controllers/controllertest"
	"kite/server/controllers/cronjob"
)

const ns = "default"

type env struct {
	t      *testing.T
	client kubernetes.Interface
	ctx    context.Context
	clock  *clocktesting.FakeClock
}

// start runs an API server with the CronJob controller on a fake clock
// (the Job controller is not running: tests finish Jobs themselves).
func start(t *testing.T) *env {
	t.Helper()
	s, cc := controllertest.Start(t)
	clk := clocktesting.NewFakeClock(time.Now())
	controllertest.Run(t, cc, cronjob.New(cc, cronjob.WithClock(clk)))
	return &env{t: t, client: s.Client, ctx: context.Background(), clock: clk}
}

func newCronJob(name, schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"cron": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
				}}},
			},
		},
	}
}

// create creates CronJobs and returns the first minute at which all of
// them are due (their creation times are the server's real time).
func (e *env) create(cjs ...*batchv1.CronJob) time.Time {
	e.t.Helper()
	var latest time.Time
	for _, cj := range cjs {
		created, err := e.client.BatchV1().CronJobs(ns).Create(e.ctx, cj, metav1.CreateOptions{})
		if err != nil {
			e.t.Fatalf("creating cronjob %s: %v", cj.Name, err)
		}
		if t := created.CreationTimestamp.Time; t.After(latest) {
			latest = t
		}
	}
	return latest.Truncate(time.Minute).Add(time.Minute)
}

// advanceTo moves the fake clock to t, then waits for cond.
func (e *env) advanceTo(t time.Time, what string, cond func() bool) {
	e.t.Helper()
	e.clock.SetTime(t)
	e.waitFor(what, cond)
}

// waitFor waits until cond holds, nudging the fake clock forward by
// milliseconds meanwhile: on a fake clock no time passes otherwise, and a
// sync retried after a conflict, or one that read the clock just before
// the test moved it, waits on the clock.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	controllertest.WaitFor(e.t, what, func(context.Context) (bool, error) {
		if cond() {
			return true, nil
		}
		e.clock.Step(10 * time.Millisecond)
		return false, nil
	})
}

func (e *env) jobs(cronJob string) []batchv1.Job {
	e.t.Helper()
	list, err := e.client.BatchV1().Jobs(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "cron=" + cronJob})
	if err != nil {
		e.t.Fatal(err)
	}
	var live []batchv1.Job
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			live = append(live, j)
		}
	}
	sort.Slice(live, func(i, k int) bool { return live[i].Name < live[k].Name })
	return live
}

func jobNames(jobs []batchv1.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

func (e *env) cronJob(name string) *batchv1.CronJob {
	e.t.Helper()
	cj, err := e.client.BatchV1().CronJobs(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cj
}

func activeNames(cj *batchv1.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

func nameAt(cronJob string, t time.Time) string { return fmt.Sprintf("%s-%d", cronJob, t.Unix()/60) }

// finishJob writes a finished Job status as the Job controller would.
func (e *env) finishJob(name string, complete bool, at time.Time) {
	e.t.Helper()
	j, err := e.client.BatchV1().Jobs(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	start, end := metav1.NewTime(at.Add(-time.Second)), metav1.NewTime(at)
	j.Status.StartTime = &start
	cond := func(t batchv1.JobConditionType, reason string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: end, LastProbeTime: end}
	}
	if complete {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &end
		j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, "CompletionsReached"), cond(batchv1.JobComplete, "CompletionsReached")}
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget, "BackoffLimitExceeded"), cond(batchv1.JobFailed, "BackoffLimitExceeded")}
	}
	if _, err := e.client.BatchV1().Jobs(ns).UpdateStatus(e.ctx, j, metav1.UpdateOptions{}); err != nil {
		e.t.Fatalf("finishing job %s: %v", name, err)
	}
}

func (e *env) events(name string) []string {
	e.t.Helper()
	var out []string
	for _, ev := range controllertest.EventsAbout(e.t, e.client, ns, name) {
		out = append(out, ev.Reason+": "+ev.Note)
	}
	return out
}

func (e *env) waitEvent(name, event string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("event %q on %s", event, name), func() bool { return slices.Contains(e.events(name), event) })
}

// TestIntegrationCronJobSchedule: at its schedule time a CronJob starts a
// Job named after the time, annotated with it (in the CronJob's time
// zone), owned by it and listed active; a finished Job leaves the active
// list and sets lastSuccessfulTime. Suspended CronJobs and times beyond
// startingDeadlineSeconds start nothing.
func TestIntegrationCronJobSchedule(t *testing.T) {
	e := start(t)
	every := newCronJob("every", "* * * * *")
	zoned := newCronJob("zoned", "* * * * *")
	zoned.Spec.TimeZone = ptr.To("Asia/Kolkata")
	paused := newCronJob("paused", "* * * * *")
	paused.Spec.Suspend = ptr.To(true)
	late := newCronJob("late", "* * * * *")
	late.Spec.StartingDeadlineSeconds = ptr.To[int64](5)
	m1 := e.create(every, zoned, paused, late)

	e.advanceTo(m1.Add(10*time.Second), "the first jobs", func() bool {
		return len(e.jobs("every")) == 1 && len(e.jobs("zoned")) == 1
	})
	job := e.jobs("every")[0]
	if job.Name != nameAt("every", m1) {
		t.Fatalf("job name %s, want %s", job.Name, nameAt("every", m1))
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != m1.UTC().Format(time.RFC3339) {
		t.Fatalf("scheduled timestamp %q", got)
	}
	cj := e.cronJob("every")
	if ref := metav1.GetControllerOf(&job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Fatalf("job owner %+v", ref)
	}
	e.waitFor("active job in status", func() bool {
		cj = e.cronJob("every")
		return slices.Equal(activeNames(cj), []string{job.Name}) && cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(m1)
	})
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	if got := e.jobs("zoned")[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != m1.In(kolkata).Format(time.RFC3339) {
		t.Fatalf("zoned scheduled timestamp %q", got)
	}
	e.waitEvent("every", "SuccessfulCreate: Created job "+job.Name)
	if n := len(e.jobs("paused")) + len(e.jobs("late")); n != 0 {
		t.Fatalf("suspended or late cronjobs started %d jobs", n)
	}

	e.finishJob(job.Name, true, m1.Add(20*time.Second))
	e.waitFor("completed job leaves the active list", func() bool {
		cj = e.cronJob("every")
		return len(cj.Status.Active) == 0 && cj.Status.LastSuccessfulTime != nil && cj.Status.LastSuccessfulTime.Time.Equal(m1.Add(20*time.Second))
	})
	e.waitEvent("every", fmt.Sprintf("SawCompletedJob: Saw completed job: %s, condition: Complete", job.Name))

	// The next minute: the next Job; the late CronJob, looked at in time, too.
	m2 := m1.Add(time.Minute)
	e.advanceTo(m2.Add(time.Second), "the second jobs", func() bool {
		return slices.Equal(jobNames(e.jobs("every")), []string{nameAt("every", m1), nameAt("every", m2)}) && len(e.jobs("late")) == 1
	})
	if n := len(e.jobs("paused")); n != 0 {
		t.Fatalf("suspended cronjob started %d jobs", n)
	}
}

// TestIntegrationCronJobConcurrency: Forbid skips a time while a Job runs;
// Replace deletes the running Job and starts the new one.
func TestIntegrationCronJobConcurrency(t *testing.T) {
	e := start(t)
	forbid := newCronJob("forbid", "* * * * *")
	forbid.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	replace := newCronJob("replace", "* * * * *")
	replace.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	allow := newCronJob("allow", "* * * * *")
	m1 := e.create(forbid, replace, allow)
	e.advanceTo(m1.Add(time.Second), "the first jobs", func() bool {
		return len(e.cronJob("forbid").Status.Active) == 1 && len(e.cronJob("replace").Status.Active) == 1 && len(e.cronJob("allow").Status.Active) == 1
	})
	m2 := m1.Add(time.Minute)
	e.advanceTo(m2.Add(time.Second), "the second minute", func() bool {
		return slices.Equal(activeNames(e.cronJob("replace")), []string{nameAt("replace", m2)}) &&
			slices.Equal(activeNames(e.cronJob("allow")), []string{nameAt("allow", m1), nameAt("allow", m2)})
	})
	e.waitEvent("forbid", "JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid")
	if got := jobNames(e.jobs("forbid")); !slices.Equal(got, []string{nameAt("forbid", m1)}) {
		t.Fatalf("forbid jobs %v", got)
	}
	e.waitFor("replaced job deleted", func() bool {
		return slices.Equal(jobNames(e.jobs("replace")), []string{nameAt("replace", m2)})
	})
	e.waitEvent("replace", "SuccessfulDelete: Deleted job "+nameAt("replace", m1))

	// Once the running Job finishes, the skipped time is still unmet (no
	// startingDeadlineSeconds): Forbid starts it late, as upstream does.
	e.finishJob(nameAt("forbid", m1), false, m2.Add(2*time.Second))
	e.waitFor("forbid starting the skipped time", func() bool {
		cj := e.cronJob("forbid")
		return slices.Equal(activeNames(cj), []string{nameAt("forbid", m2)}) && cj.Status.LastScheduleTime.Time.Equal(m2)
	})
	e.waitEvent("forbid", fmt.Sprintf("SawCompletedJob: Saw completed job: %s, condition: Failed", nameAt("forbid", m1)))
}

// TestIntegrationCronJobHistory: only the newest successful and failed
// Jobs within the history limits are kept.
func TestIntegrationCronJobHistory(t *testing.T) {
	e := start(t)
	cj := newCronJob("hist", "* * * * *")
	cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
	cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](0)
	m := e.create(cj)
	var names []string
	for i := 0; i < 3; i++ {
		at := m.Add(time.Duration(i) * time.Minute)
		e.advanceTo(at.Add(time.Second), fmt.Sprintf("job %d", i), func() bool {
			return slices.Contains(activeNames(e.cronJob("hist")), nameAt("hist", at))
		})
		names = append(names, nameAt("hist", at))
		e.finishJob(names[i], i != 1, at.Add(2*time.Second)) // the second one fails
	}
	e.waitFor("history trimmed", func() bool {
		return slices.Equal(jobNames(e.jobs("hist")), []string{names[2]})
	})
	e.waitEvent("hist", "SuccessfulDelete: Deleted job "+names[0])
	e.waitEvent("hist", "SuccessfulDelete: Deleted job "+names[1])
	if got := e.cronJob("hist").Status.LastSuccessfulTime; got == nil || !got.Time.Equal(m.Add(2*time.Minute+2*time.Second)) {
		t.Fatalf("lastSuccessfulTime %v", got)
	}
}
