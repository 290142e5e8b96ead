package cronjob

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/ptr"
)

// sync brings one CronJob's status in line with its Jobs, trims its
// history, starts the Job of a due schedule time, and asks to be woken
// at the next one.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	jobs, err := c.jobsOf(shared)
	if err != nil {
		return err
	}
	cj := shared.DeepCopy()
	trimmed := c.trimHistory(ctx, cj, jobs)
	next, changed, syncErr := c.syncCronJob(ctx, cj, jobs)
	if trimmed || changed {
		if _, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating status: %w", err)
		}
	}
	if next != nil {
		return retryIn(*next)
	}
	return syncErr
}

// syncCronJob does the work of sync on cj (a copy) and reports when to
// look again and whether cj's status changed.
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (*time.Duration, bool, error) {
	now := c.clock.Now()
	changed := false
	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		listed := isActive(cj, j.UID)
		finished, how := finishedAs(j)
		switch {
		case !listed && !finished:
			// The status may just be behind our own write: ask the API.
			fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil {
				return nil, changed, err
			}
			if isActive(fresh, j.UID) {
				*cj = *fresh
				continue
			}
			c.rec.Eventf(cj, j, corev1.EventTypeWarning, "UnexpectedJob", "Sync", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case finished:
			if listed {
				removeActive(cj, j.UID)
				c.rec.Eventf(cj, j, corev1.EventTypeNormal, "SawCompletedJob", "Sync", "Saw completed job: %s, condition: %v", j.Name, how)
				changed = true
			}
			if how == batchv1.JobComplete && j.Status.CompletionTime != nil &&
				(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
				cj.Status.LastSuccessfulTime = j.Status.CompletionTime
				changed = true
			}
		}
	}
	// Jobs that vanished (deleted by hand, say) must not stay active
	// forever; the cache may just be slow, so ask the API.
	for _, ref := range cj.Status.Active {
		if children[ref.UID] {
			continue
		}
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.rec.Eventf(cj, nil, corev1.EventTypeNormal, "MissingJob", "Sync", "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
			changed = true
		case err != nil:
			return nil, changed, err
		}
	}
	if cj.DeletionTimestamp != nil {
		return nil, changed, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "UnknownTimeZone", "Schedule", "invalid timeZone: %q: %s", *tz, err)
			return nil, changed, nil
		}
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return nil, changed, nil
	}
	sched, err := c.parse(cj)
	if err != nil {
		c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "UnparseableSchedule", "Schedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, changed, nil
	}
	_, due, howMany, err := latestUnmet(cj, now, sched, true)
	if err != nil {
		c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "InvalidSchedule", "Schedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return nil, changed, nil
	}
	next := untilNext(cj, now, sched)
	if due == nil {
		return &next, changed, nil
	}
	if howMany == manyMissed {
		c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "TooManyMissedTimes", "Schedule", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && due.Add(time.Duration(*d)*time.Second).Before(now) {
		c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "MissSchedule", "Schedule", "Missed scheduled time to start a job: %s", due.UTC().Format(time.RFC1123Z))
		return &next, changed, nil
	}
	name := jobName(cj, *due)
	if isActiveByName(cj, name) || (cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*due)) {
		return &next, changed, nil // this time is done already
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent && len(cj.Status.Active) > 0 {
		c.rec.Eventf(cj, nil, corev1.EventTypeNormal, "JobAlreadyActive", "Schedule", "Not starting job because prior execution is running and concurrency policy is Forbid")
		return &next, changed, nil
	}
	if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
		for _, ref := range cj.Status.Active {
			j, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "FailedGet", "Replace", "Get job: %v", err)
				return nil, changed, err
			}
			if !c.deleteJob(ctx, cj, j) {
				return nil, changed, fmt.Errorf("could not replace job %s/%s", j.Namespace, j.Name)
			}
			changed = true
		}
	}

	job, err := c.startJob(ctx, cj, *due)
	if err != nil || job == nil {
		return nil, changed, err
	}
	ref, err := reference.GetReference(scheme.Scheme, job)
	if err != nil {
		return nil, changed, fmt.Errorf("reference to job %s: %w", job.Name, err)
	}
	cj.Status.Active = append(cj.Status.Active, *ref)
	cj.Status.LastScheduleTime = &metav1.Time{Time: *due}
	return &next, true, nil
}

func (c *Controller) parse(cj *batchv1.CronJob) (cron.Schedule, error) {
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "UnsupportedSchedule", "Schedule",
			"CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	return parseSchedule(scheduleLine(cj))
}

// startJob creates the Job for schedule time due. It returns the Job to
// record as active, or nil when there is nothing to record (a Job of
// that name exists and is someone else's or already recorded).
func (c *Controller) startJob(ctx context.Context, cj *batchv1.CronJob, due time.Time) (*batchv1.Job, error) {
	want, err := jobFor(cj, due)
	if err != nil {
		return nil, err
	}
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, want, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case apierrors.IsAlreadyExists(err):
		// Created before, by us (the status write was lost) or by
		// someone else (who keeps the status).
		existing, err := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if !metav1.IsControlledBy(existing, cj) || isActive(cj, existing.UID) {
			return nil, nil
		}
		c.log.Info("job already exists", "cronjob", cj.Namespace+"/"+cj.Name, "job", existing.Name)
		return existing, nil
	case err != nil:
		c.rec.Eventf(cj, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating job: %v", err)
		return nil, err
	}
	c.rec.Eventf(cj, created, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created job %v", created.Name)
	return created, nil
}

// jobFor builds the Job of schedule time due from the CronJob's template.
func jobFor(cj *batchv1.CronJob, due time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = due.In(loc).Format(time.RFC3339)
	labels := map[string]string{}
	for k, v := range cj.Spec.JobTemplate.Labels {
		labels[k] = v
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, due),
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}

// trimHistory deletes the oldest finished Jobs beyond the history limits
// and reports whether cj's status changed.
func (c *Controller) trimHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch _, how := finishedAs(j); how {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	if limit := cj.Spec.SuccessfulJobsHistoryLimit; limit != nil && c.deleteOldest(ctx, cj, succeeded, int(*limit)) {
		changed = true
	}
	if limit := cj.Spec.FailedJobsHistoryLimit; limit != nil && c.deleteOldest(ctx, cj, failed, int(*limit)) {
		changed = true
	}
	return changed
}

func (c *Controller) deleteOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) bool {
	if len(jobs) <= keep {
		return false
	}
	sortByStart(jobs)
	changed := false
	for _, j := range jobs[:len(jobs)-keep] {
		if c.deleteJob(ctx, cj, j) {
			changed = true
		}
	}
	return changed
}

// sortByStart orders Jobs oldest first by start time (Jobs not started
// last), then by name.
func sortByStart(jobs []*batchv1.Job) {
	sort.SliceStable(jobs, func(i, k int) bool {
		a, b := jobs[i].Status.StartTime, jobs[k].Status.StartTime
		switch {
		case a == nil && b != nil:
			return false
		case a != nil && b == nil:
			return true
		case a.Equal(b):
			return jobs[i].Name < jobs[k].Name
		}
		return a.Before(b)
	})
}

// deleteJob deletes a Job with its pods and forgets it as active.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, j *batchv1.Job) bool {
	background := metav1.DeletePropagationBackground
	if err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		c.rec.Eventf(cj, j, corev1.EventTypeWarning, "FailedDelete", "Delete", "Deleted job: %v", err)
		return false
	}
	removeActive(cj, j.UID)
	c.rec.Eventf(cj, j, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted job %v", j.Name)
	return true
}

// finishedAs tells whether the Job finished, and how (Complete or Failed).
func finishedAs(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

func isActive(cj *batchv1.CronJob, uid types.UID) bool {
	for _, r := range cj.Status.Active {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func isActiveByName(cj *batchv1.CronJob, name string) bool {
	for _, r := range cj.Status.Active {
		if r.Name == name && r.Namespace == cj.Namespace {
			return true
		}
	}
	return false
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	keep := []corev1.ObjectReference{}
	for _, r := range cj.Status.Active {
		if r.UID != uid {
			keep = append(keep, r)
		}
	}
	cj.Status.Active = keep
}
