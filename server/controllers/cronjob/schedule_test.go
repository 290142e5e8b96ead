package cronjob

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cronJob(schedule string, tz *string, created time.Time) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", CreationTimestamp: metav1.NewTime(created)},
		Spec:       batchv1.CronJobSpec{Schedule: schedule, TimeZone: tz},
	}
}

// TestNextScheduleTime: the next start after a given time, for standard
// and predefined schedules, in several time zones (DST included).
func TestNextScheduleTime(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		tz       *string
		after    string
		want     string
	}{
		{"*/5 * * * *", nil, "2026-03-01T10:02:30Z", "2026-03-01T10:05:00Z"},
		{"0 * * * *", nil, "2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"},
		{"0 * * * *", nil, "2026-03-01T10:00:01Z", "2026-03-01T11:00:00Z"},
		{"@hourly", nil, "2026-03-01T10:59:59Z", "2026-03-01T11:00:00Z"},
		{"@daily", nil, "2026-03-01T10:00:00Z", "2026-03-02T00:00:00Z"},
		{"@weekly", nil, "2026-03-04T10:00:00Z", "2026-03-08T00:00:00Z"}, // Sunday
		{"@monthly", nil, "2026-03-04T10:00:00Z", "2026-04-01T00:00:00Z"},
		{"@yearly", nil, "2026-03-04T10:00:00Z", "2027-01-01T00:00:00Z"},
		{"30 9 * * 1-5", nil, "2026-03-06T10:00:00Z", "2026-03-09T09:30:00Z"}, // Friday after 9:30: Monday
		{"0 9 * * *", ptr.To("Asia/Tokyo"), "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"0 9 * * *", ptr.To("Asia/Tokyo"), "2026-03-01T00:00:01Z", "2026-03-02T00:00:00Z"},
		{"0 9 * * *", ptr.To("America/New_York"), "2026-03-01T00:00:00Z", "2026-03-01T14:00:00Z"}, // EST
		{"0 9 * * *", ptr.To("America/New_York"), "2026-03-09T00:00:00Z", "2026-03-09T13:00:00Z"}, // EDT after 8 March
		{"30 2 * * *", ptr.To("Europe/Berlin"), "2026-03-29T00:00:00Z", "2026-03-30T00:30:00Z"},   // 02:30 does not exist on the DST day
		{"0 12 * * *", ptr.To("Asia/Kolkata"), "2026-03-01T00:00:00Z", "2026-03-01T06:30:00Z"},
		{"0 0 * * *", ptr.To("Pacific/Chatham"), "2026-06-01T00:00:00Z", "2026-06-01T11:15:00Z"}, // +12:45 in winter
		{"0 0 * * *", ptr.To("UTC"), "2026-06-01T00:00:01Z", "2026-06-02T00:00:00Z"},
	} {
		cj := cronJob(tc.schedule, tc.tz, time.Time{})
		sched, err := parseSchedule(scheduleLine(cj))
		if err != nil {
			t.Errorf("%q in %v: %v", tc.schedule, ptr.Deref(tc.tz, "UTC"), err)
			continue
		}
		// A second before "after" so that a schedule time equal to it
		// counts as next.
		got := sched.Next(mustTime(t, tc.after).Add(-time.Second))
		if want := mustTime(t, tc.want); !got.Equal(want) {
			t.Errorf("%q in %v after %s: got %s, want %s", tc.schedule, ptr.Deref(tc.tz, "UTC"), tc.after, got.UTC().Format(time.RFC3339), tc.want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	for _, bad := range []string{"", "* * * *", "61 * * * *", "@every", "@sometimes", "* * * * * * *"} {
		if _, err := parseSchedule(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for _, good := range []string{"* * * * *", "@every 90s", "TZ=Europe/Paris 0 6 * * *", "CRON_TZ=UTC 0 6 * * *", "0 0 1 jan,jul *"} {
		if _, err := parseSchedule(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	// spec.timeZone becomes a TZ= prefix, unless the schedule has one of
	// its own or the zone is unknown.
	for _, tc := range []struct {
		schedule string
		tz       *string
		want     string
	}{
		{"0 6 * * *", nil, "0 6 * * *"},
		{"0 6 * * *", ptr.To("Europe/Paris"), "TZ=Europe/Paris 0 6 * * *"},
		{"TZ=UTC 0 6 * * *", ptr.To("Europe/Paris"), "TZ=UTC 0 6 * * *"},
		{"0 6 * * *", ptr.To("Mars/Olympus"), "0 6 * * *"},
	} {
		if got := scheduleLine(cronJob(tc.schedule, tc.tz, time.Time{})); got != tc.want {
			t.Errorf("scheduleLine(%q, %v) = %q, want %q", tc.schedule, tc.tz, got, tc.want)
		}
	}
}

// TestLatestUnmet: which schedule time is due now, how many were missed,
// and how startingDeadlineSeconds limits how far back the controller looks.
func TestLatestUnmet(t *testing.T) {
	created := mustTime(t, "2026-03-01T10:00:30Z")
	for _, tc := range []struct {
		name     string
		schedule string
		last     string
		deadline *int64
		now      string
		want     string // "" when nothing is due
		missed   missed
	}{
		{name: "before the first time", schedule: "*/5 * * * *", now: "2026-03-01T10:04:59Z"},
		{name: "first time due", schedule: "*/5 * * * *", now: "2026-03-01T10:05:10Z", want: "2026-03-01T10:05:00Z"},
		{name: "after the last run", schedule: "*/5 * * * *", last: "2026-03-01T10:05:00Z", now: "2026-03-01T10:07:00Z"},
		{name: "several missed: the latest", schedule: "*/5 * * * *", last: "2026-03-01T10:05:00Z", now: "2026-03-01T10:31:00Z", want: "2026-03-01T10:30:00Z", missed: fewMissed},
		{name: "many missed", schedule: "* * * * *", now: "2026-03-02T10:00:30Z", want: "2026-03-02T10:00:00Z", missed: manyMissed},
		{name: "deadline passed", schedule: "*/5 * * * *", deadline: ptr.To[int64](60), now: "2026-03-01T10:06:01Z"},
		{name: "deadline not passed", schedule: "*/5 * * * *", deadline: ptr.To[int64](60), now: "2026-03-01T10:05:59Z", want: "2026-03-01T10:05:00Z"},
		{name: "deadline bounds the missed count", schedule: "* * * * *", deadline: ptr.To[int64](200), now: "2026-03-02T10:00:30Z", want: "2026-03-02T10:00:00Z", missed: fewMissed},
		{name: "irregular schedule", schedule: "30 6-16/4 * * 1-5", now: "2026-03-06T15:00:00Z", want: "2026-03-06T14:30:00Z", missed: fewMissed},
	} {
		cj := cronJob(tc.schedule, nil, created)
		cj.Spec.StartingDeadlineSeconds = tc.deadline
		if tc.last != "" {
			cj.Status.LastScheduleTime = &metav1.Time{Time: mustTime(t, tc.last)}
		}
		sched, err := parseSchedule(tc.schedule)
		if err != nil {
			t.Fatal(err)
		}
		_, got, m, err := latestUnmet(cj, mustTime(t, tc.now), sched, true)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		gotStr := ""
		if got != nil {
			gotStr = got.UTC().Format(time.RFC3339)
		}
		if gotStr != tc.want || m != tc.missed {
			t.Errorf("%s: got %q (missed %d), want %q (missed %d)", tc.name, gotStr, m, tc.want, tc.missed)
		}
	}
	// 31 February never comes.
	sched, _ := parseSchedule("0 0 31 2 *")
	if _, _, _, err := latestUnmet(cronJob("0 0 31 2 *", nil, created), created.Add(24*time.Hour), sched, true); err == nil {
		t.Error("a schedule that never fires was accepted")
	}
}

// TestUntilNext: the controller wakes just after the next schedule time.
func TestUntilNext(t *testing.T) {
	created := mustTime(t, "2026-03-01T10:00:30Z")
	sched, _ := parseSchedule("*/5 * * * *")
	for _, tc := range []struct {
		last, now string
		want      time.Duration
	}{
		{now: "2026-03-01T10:01:00Z", want: 4*time.Minute + requeueSlack},
		{last: "2026-03-01T10:05:00Z", now: "2026-03-01T10:05:00.5Z", want: 5*time.Minute - 500*time.Millisecond + requeueSlack},
		{last: "2026-03-01T10:05:00Z", now: "2026-03-01T10:22:00Z", want: 3*time.Minute + requeueSlack},
	} {
		cj := cronJob("*/5 * * * *", nil, created)
		if tc.last != "" {
			cj.Status.LastScheduleTime = &metav1.Time{Time: mustTime(t, tc.last)}
		}
		now, _ := time.Parse(time.RFC3339Nano, tc.now)
		if got := untilNext(cj, now, sched); got != tc.want {
			t.Errorf("last %s now %s: %v, want %v", tc.last, tc.now, got, tc.want)
		}
	}
}

func TestJobFor(t *testing.T) {
	cj := cronJob("* * * * *", ptr.To("Asia/Kolkata"), time.Time{})
	cj.UID = "uid-1"
	cj.Spec.JobTemplate.Labels = map[string]string{"app": "x"}
	cj.Spec.JobTemplate.Annotations = map[string]string{"note": "y"}
	cj.Spec.JobTemplate.Spec.BackoffLimit = ptr.To[int32](2)
	due := mustTime(t, "2026-03-01T10:05:00Z")
	job, err := jobFor(cj, due)
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "cj-29539325" {
		t.Errorf("name %s", job.Name)
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-03-01T15:35:00+05:30" {
		t.Errorf("scheduled timestamp %s", got)
	}
	if job.Labels["app"] != "x" || job.Annotations["note"] != "y" || *job.Spec.BackoffLimit != 2 {
		t.Errorf("template not copied: %+v", job)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != "uid-1" || ref.Kind != "CronJob" || !*ref.BlockOwnerDeletion {
		t.Errorf("owner %+v", ref)
	}
	// The template is the CronJob's; the Job got a copy.
	job.Labels["app"] = "changed"
	if cj.Spec.JobTemplate.Labels["app"] != "x" {
		t.Error("job shares the template's labels")
	}
}
