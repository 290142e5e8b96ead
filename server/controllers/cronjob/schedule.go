package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"

	// The kite binary is static and may run where /usr/share/zoneinfo is
	// missing: spec.timeZone must still work.
	_ "time/tzdata"
)

// requeueSlack is added to the wait for the next schedule time, so that
// the sync comes just after it even with a little clock skew.
const requeueSlack = 100 * time.Millisecond

// tooManyMissed is the number of missed start times beyond which a
// CronJob is considered broken (a wrong clock) rather than late.
const tooManyMissed = 100

// parseSchedule parses a standard cron line ("*/5 * * * *", "@hourly",
// an optional "TZ=Zone " or "CRON_TZ=Zone " prefix), turning the
// library's panics on odd input into errors.
func parseSchedule(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("invalid schedule format: %v", r)
		}
	}()
	return cron.ParseStandard(spec)
}

// scheduleLine is the cron line the CronJob means: spec.timeZone becomes
// a TZ= prefix. A schedule written with its own TZ= or CRON_TZ= (only
// possible for CronJobs from before the API forbade it) is taken as is.
func scheduleLine(cj *batchv1.CronJob) string {
	if strings.Contains(cj.Spec.Schedule, "TZ") || cj.Spec.TimeZone == nil {
		return cj.Spec.Schedule
	}
	if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
		return cj.Spec.Schedule
	}
	return "TZ=" + *cj.Spec.TimeZone + " " + cj.Spec.Schedule
}

// missed classifies how many start times passed unmet.
type missed int

const (
	noneMissed missed = iota
	fewMissed
	manyMissed
)

// latestUnmet returns the time from which schedule times are unmet (the
// last schedule time, else the creation time; with
// useStartingDeadline, no earlier than the deadline allows), the latest
// schedule time in (that, now] if any, and how many were missed. It
// fails for schedules that never fire (such as 31 February), whose two
// next times coincide.
func latestUnmet(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, useStartingDeadline bool) (time.Time, *time.Time, missed, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if useStartingDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if limit := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	first := sched.Next(earliest)
	second := sched.Next(first)
	if now.Before(first) {
		return earliest, nil, noneMissed, nil
	}
	if now.Before(second) {
		return earliest, &first, noneMissed, nil
	}
	period := int64(second.Sub(first).Round(time.Second).Seconds())
	if period < 1 {
		return earliest, nil, noneMissed, fmt.Errorf("time difference between two schedules is less than 1 second")
	}
	// Estimate the count from the first period rather than walking every
	// missed time (a clock off by years would take forever), then walk
	// only the last stretch to find the latest time exactly.
	count := int64(now.Sub(first).Seconds())/period + 1
	from := first.Add(time.Duration((count-2)*period) * time.Second)
	var latest time.Time
	for t := sched.Next(from); !t.After(now); t = sched.Next(t) {
		latest = t
	}
	m := fewMissed
	if count > tooManyMissed {
		m = manyMissed
	}
	if latest.IsZero() {
		return earliest, nil, m, nil
	}
	return earliest, &latest, m, nil
}

// untilNext is how long to wait before the next schedule time after now
// (or after the last unmet one), plus a little slack.
func untilNext(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) time.Duration {
	earliest, latest, m, err := latestUnmet(cj, now, sched, false)
	from := now
	switch {
	case err != nil:
	case latest != nil:
		from = *latest
	case m == noneMissed:
		from = earliest
	}
	return sched.Next(from).Add(requeueSlack).Sub(now)
}

// jobName is the name of the Job for a schedule time: unique per minute,
// so that a Job is never created twice for one time.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}
