package job

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestIndexSet(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		add         []int
		want        string
		count       int
	}{
		{in: "", completions: 5, want: "", count: 0},
		{in: "", completions: 5, add: []int{0}, want: "0", count: 1},
		{in: "", completions: 9, add: []int{3, 4}, want: "3,4", count: 2},
		{in: "", completions: 9, add: []int{5, 3, 4}, want: "3-5", count: 3},
		{in: "1,3-5", completions: 9, add: []int{2}, want: "1-5", count: 5},
		{in: "1,3-5", completions: 9, add: []int{7}, want: "1,3-5,7", count: 5},
		{in: "0-2,8", completions: 5, want: "0-2", count: 3},     // beyond completions is dropped
		{in: "3-9", completions: 5, want: "3,4", count: 2},       // clipped at completions
		{in: "x,2,y-3,4", completions: 9, want: "2,4", count: 2}, // malformed parts ignored
		{in: "0,1,2", completions: 9, want: "0-2", count: 3},     // neighbours merged
	} {
		s := parseIndexSet(tc.in, tc.completions).withIndexes(tc.add...)
		if s.String() != tc.want || s.count() != tc.count {
			t.Errorf("%q + %v: got %q (%d), want %q (%d)", tc.in, tc.add, s.String(), s.count(), tc.want, tc.count)
		}
	}
}

func TestIndexSetHasAndFirstMissing(t *testing.T) {
	s := parseIndexSet("1,3-5,9", 20)
	for ix, want := range map[int]bool{0: false, 1: true, 2: false, 3: true, 5: true, 6: false, 9: true, 10: false} {
		if s.has(ix) != want {
			t.Errorf("has(%d) = %v", ix, !want)
		}
	}
	for _, tc := range []struct {
		n, completions int
		want           []int
	}{
		{n: 3, completions: 20, want: []int{0, 2, 6}},
		{n: 10, completions: 11, want: []int{0, 2, 6, 7, 8, 10}},
		{n: 5, completions: 4, want: []int{0, 2}},
		{n: 0, completions: 20, want: nil},
	} {
		if got := s.firstMissing(tc.n, tc.completions); !slices.Equal(got, tc.want) {
			t.Errorf("firstMissing(%d, %d) = %v, want %v", tc.n, tc.completions, got, tc.want)
		}
	}
	if got := parseIndexSet("0-3,7-9", 10).overlapCount(parseIndexSet("2-8", 10)); got != 4 {
		t.Errorf("overlap = %d, want 4", got)
	}
}

func TestIndexedPodName(t *testing.T) {
	if got := indexedPodName("job", 7); got != "job-7-" {
		t.Errorf("got %q", got)
	}
	long := "a23456789012345678901234567890123456789012345678901234567890"
	if got := indexedPodName(long, 12); len(got) != 58 || got[len(got)-4:] != "-12-" {
		t.Errorf("got %q (%d)", got, len(got))
	}
}

func failedAt(ago time.Duration, now time.Time) *corev1.Pod {
	t := metav1.NewTime(now.Add(-ago))
	return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: t}},
	}}}}
}

// TestBackoff: 10 s after the first failure, doubling, capped; a success
// resets it; only failures after the last success count.
func TestBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	for _, tc := range []struct {
		name      string
		prev      backoffRecord
		succeeded []*corev1.Pod
		failed    []*corev1.Pod
		want      time.Duration
	}{
		{name: "nothing failed", want: 0},
		{name: "first failure just now", failed: []*corev1.Pod{failedAt(0, now)}, want: 10 * time.Second},
		{name: "first failure 4s ago", failed: []*corev1.Pod{failedAt(4*time.Second, now)}, want: 6 * time.Second},
		{name: "third failure", prev: backoffRecord{failuresSinceSuccess: 2}, failed: []*corev1.Pod{failedAt(0, now)}, want: 40 * time.Second},
		{name: "capped", prev: backoffRecord{failuresSinceSuccess: 20}, failed: []*corev1.Pod{failedAt(0, now)}, want: 10 * time.Minute},
		{name: "long ago", failed: []*corev1.Pod{failedAt(time.Hour, now)}, want: 0},
		{name: "success resets", prev: backoffRecord{failuresSinceSuccess: 5, lastFailure: now}, succeeded: []*corev1.Pod{failedAt(0, now)}, want: 0},
		{
			name: "failure after success counts", prev: backoffRecord{failuresSinceSuccess: 5, lastFailure: now},
			succeeded: []*corev1.Pod{failedAt(3*time.Second, now)},
			failed:    []*corev1.Pod{failedAt(5*time.Second, now), failedAt(time.Second, now)},
			want:      9 * time.Second,
		},
	} {
		r := tc.prev.next(tc.succeeded, tc.failed)
		if got := r.remaining(clk, defaultPodFailureBackoff, maxPodFailureBackoff); got != tc.want {
			t.Errorf("%s: remaining %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPodFinishTime(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ready := created.Add(time.Minute)
	deleted := created.Add(2 * time.Minute)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	if got := podFinishTime(p); !got.Equal(created) {
		t.Errorf("bare pod: %v", got)
	}
	p.DeletionTimestamp = ptr.To(metav1.NewTime(deleted))
	p.DeletionGracePeriodSeconds = ptr.To[int64](30)
	if got := podFinishTime(p); !got.Equal(deleted.Add(-30 * time.Second)) {
		t.Errorf("deleted pod: %v", got)
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(ready)}}
	if got := podFinishTime(p); !got.Equal(ready) {
		t.Errorf("unready pod: %v", got)
	}
}

func TestJudgeFailure(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Status: corev1.PodStatus{
			Phase:             corev1.PodFailed,
			Conditions:        []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 42}}}},
		},
	}
	exit := func(op batchv1.PodFailurePolicyOnExitCodesOperator, codes ...int32) *batchv1.PodFailurePolicyOnExitCodesRequirement {
		return &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: op, Values: codes}
	}
	for _, tc := range []struct {
		name   string
		rules  []batchv1.PodFailurePolicyRule
		want   failureVerdict
		policy bool
	}{
		{name: "no policy", want: failureVerdict{counts: true}},
		{name: "no rule matches", policy: true, rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: exit(batchv1.PodFailurePolicyOnExitCodesOpIn, 1)}},
			want: failureVerdict{counts: true}},
		{name: "ignore by condition", policy: true, rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}},
			want: failureVerdict{action: batchv1.PodFailurePolicyActionIgnore}},
		{name: "fail job by exit code NotIn", policy: true, rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: exit(batchv1.PodFailurePolicyOnExitCodesOpNotIn, 1, 2)}},
			want: failureVerdict{action: batchv1.PodFailurePolicyActionFailJob, counts: true, failJobMessage: "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0"}},
		{name: "first match wins", policy: true, rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: exit(batchv1.PodFailurePolicyOnExitCodesOpIn, 42)},
			{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: exit(batchv1.PodFailurePolicyOnExitCodesOpIn, 42)},
		}, want: failureVerdict{action: batchv1.PodFailurePolicyActionCount, counts: true}},
		{name: "fail job by condition", policy: true, rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}},
			want: failureVerdict{action: batchv1.PodFailurePolicyActionFailJob, counts: true, failJobMessage: "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 0"}},
	} {
		var policy *batchv1.PodFailurePolicy
		if tc.policy {
			policy = &batchv1.PodFailurePolicy{Rules: tc.rules}
		}
		if got := judgeFailure(policy, pod); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSuccessPolicy(t *testing.T) {
	succeeded := parseIndexSet("0-2,5", 10)
	for _, tc := range []struct {
		name  string
		rules []batchv1.SuccessPolicyRule
		want  string
	}{
		{name: "indexes all done", rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0,1")}}, want: "Matched rules at index 0"},
		{name: "indexes not all done", rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0-4")}}},
		{name: "enough of the indexes", rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("2-6")}, {SucceededIndexes: ptr.To("4-6"), SucceededCount: ptr.To[int32](1)}}, want: "Matched rules at index 1"},
		{name: "count", rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](4)}}, want: "Matched rules at index 0"},
		{name: "count not reached", rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](5)}}},
	} {
		msg, ok := successPolicyMet(&batchv1.SuccessPolicy{Rules: tc.rules}, 10, succeeded)
		if msg != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: got %q %v, want %q", tc.name, msg, ok, tc.want)
		}
	}
}

func TestRemovalCandidates(t *testing.T) {
	pod := func(name, ix, node string, phase corev1.PodPhase, ready bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if ix != "" {
			p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: ix}
		}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	names := func(pods []*corev1.Pod) []string {
		var out []string
		for _, p := range pods {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	nonIndexed := &batchv1.Job{}
	active := []*corev1.Pod{
		pod("ready", "", "n", corev1.PodRunning, true),
		pod("unscheduled", "", "", corev1.PodPending, false),
		pod("running", "", "n", corev1.PodRunning, false),
		pod("pending", "", "n", corev1.PodPending, false),
	}
	if got := names(removalCandidates(nonIndexed, active, 2)); !slices.Equal(got, []string{"pending", "unscheduled"}) {
		t.Errorf("non-indexed: %v", got)
	}
	indexed := &batchv1.Job{Spec: batchv1.JobSpec{CompletionMode: ptr.To(batchv1.IndexedCompletion), Completions: ptr.To[int32](3)}}
	active = []*corev1.Pod{
		pod("a0", "0", "n", corev1.PodRunning, true),
		pod("b0", "0", "n", corev1.PodPending, false),
		pod("a1", "1", "n", corev1.PodRunning, true),
		pod("noindex", "", "n", corev1.PodRunning, true),
		pod("a7", "7", "n", corev1.PodRunning, true),
	}
	if got := names(removalCandidates(indexed, active, 0)); !slices.Equal(got, []string{"a7", "b0", "noindex"}) {
		t.Errorf("indexed: %v", got)
	}
}
