package ttlafterfinished

import (
	"errors"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
)

func TestExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := &Controller{clock: clocktesting.NewFakeClock(now)}
	finishedAt := func(t batchv1.JobConditionType, ago time.Duration) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-ago))}}
	}
	for _, tc := range []struct {
		name       string
		ttl        *int32
		conditions []batchv1.JobCondition
		deleting   bool
		expired    bool
		retryIn    time.Duration
		fails      bool
	}{
		{name: "no ttl", conditions: finishedAt(batchv1.JobComplete, time.Hour)},
		{name: "not finished", ttl: ptr.To[int32](0), conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}},
		{name: "complete, expired", ttl: ptr.To[int32](60), conditions: finishedAt(batchv1.JobComplete, time.Minute), expired: true},
		{name: "failed, expired", ttl: ptr.To[int32](0), conditions: finishedAt(batchv1.JobFailed, 0), expired: true},
		{name: "complete, not yet", ttl: ptr.To[int32](60), conditions: finishedAt(batchv1.JobComplete, 20*time.Second), retryIn: 40 * time.Second},
		{name: "being deleted", ttl: ptr.To[int32](0), conditions: finishedAt(batchv1.JobComplete, time.Hour), deleting: true},
		{name: "no finish time", ttl: ptr.To[int32](0), conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}, fails: true},
	} {
		job := &batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: tc.ttl}, Status: batchv1.JobStatus{Conditions: tc.conditions}}
		if tc.deleting {
			job.DeletionTimestamp = ptr.To(metav1.NewTime(now))
		}
		expired, err := c.expired(job)
		var retry controllers.RetryAfter
		switch {
		case expired != tc.expired:
			t.Errorf("%s: expired %v", tc.name, expired)
		case tc.retryIn > 0 && (!errors.As(err, &retry) || time.Duration(retry) != tc.retryIn):
			t.Errorf("%s: err %v, want retry in %v", tc.name, err, tc.retryIn)
		case tc.fails != (err != nil && !errors.As(err, &retry)):
			t.Errorf("%s: err %v", tc.name, err)
		case tc.retryIn == 0 && !tc.fails && err != nil:
			t.Errorf("%s: unexpected err %v", tc.name, err)
		}
	}
}
