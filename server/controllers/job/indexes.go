package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// noIndex is what completionIndex answers for a pod without a valid
// completion index.
const noIndex = -1

// indexRange is the closed range [first, last] of completion indexes.
type indexRange struct{ first, last int }

// indexSet is a set of completion indexes kept as sorted, disjoint and
// non-adjacent ranges: the shape of status.completedIndexes
// ("1,3-5,7") and status.failedIndexes.
type indexSet []indexRange

// parseIndexSet reads a completedIndexes-style string, ignoring malformed
// parts and indexes at or above completions (a Job scaled down keeps its
// old string until the next status update).
func parseIndexSet(s string, completions int) indexSet {
	var out indexSet
	if s == "" {
		return out
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				continue
			}
			last = min(last, completions-1)
		}
		out = out.union(indexSet{{first, last}})
	}
	return out
}

// String writes the set the way the API shows it: a pair of neighbours is
// written "3,4", three or more "3-5".
func (s indexSet) String() string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.first))
		switch {
		case r.last == r.first+1:
			fmt.Fprintf(&b, ",%d", r.last)
		case r.last > r.first:
			fmt.Fprintf(&b, "-%d", r.last)
		}
	}
	return b.String()
}

// count is the number of indexes in the set.
func (s indexSet) count() int {
	n := 0
	for _, r := range s {
		n += r.last - r.first + 1
	}
	return n
}

// has tells whether ix is in the set.
func (s indexSet) has(ix int) bool {
	i, _ := slices.BinarySearchFunc(s, ix, func(r indexRange, ix int) int { return r.last - ix })
	return i < len(s) && s[i].first <= ix
}

// union returns the set of indexes in s or other.
func (s indexSet) union(other indexSet) indexSet {
	all := append(slices.Clone(s), other...)
	slices.SortFunc(all, func(a, b indexRange) int { return a.first - b.first })
	var out indexSet
	for _, r := range all {
		if n := len(out); n > 0 && r.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, r.last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// withIndexes returns s plus the given indexes.
func (s indexSet) withIndexes(ixs ...int) indexSet {
	add := make(indexSet, 0, len(ixs))
	for _, ix := range ixs {
		add = append(add, indexRange{ix, ix})
	}
	return s.union(add)
}

// overlapCount is how many indexes s and other have in common.
func (s indexSet) overlapCount(other indexSet) int {
	n := 0
	for _, a := range s {
		for _, b := range other {
			if lo, hi := max(a.first, b.first), min(a.last, b.last); hi >= lo {
				n += hi - lo + 1
			}
		}
	}
	return n
}

// firstMissing returns up to n indexes below completions that are not in
// s, lowest first.
func (s indexSet) firstMissing(n, completions int) []int {
	var out []int
	next := 0
	for _, r := range append(slices.Clone(s), indexRange{completions, completions}) {
		for ; next < r.first && next < completions && len(out) < n; next++ {
			out = append(out, next)
		}
		next = max(next, r.last+1)
		if len(out) == n || next >= completions {
			break
		}
	}
	return out
}

// completionIndex is the pod's completion index, or noIndex.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	ix, err := strconv.Atoi(v)
	if err != nil || ix < 0 {
		return noIndex
	}
	return ix
}

// validIndex is the pod's completion index if it is one the Job wants,
// or noIndex.
func validIndex(job *batchv1.Job, pod *corev1.Pod) int {
	ix := completionIndex(pod)
	if ix == noIndex || ix >= int(*job.Spec.Completions) {
		return noIndex
	}
	return ix
}

// podsIndexes is the set of valid completion indexes of pods.
func podsIndexes(job *batchv1.Job, pods []*corev1.Pod) indexSet {
	var ixs []int
	for _, p := range pods {
		if ix := validIndex(job, p); ix != noIndex {
			ixs = append(ixs, ix)
		}
	}
	return indexSet(nil).withIndexes(ixs...)
}

// indexedPodName is the generateName prefix of an Indexed Job's pod,
// shortened so the generated name stays a valid label.
func indexedPodName(jobName string, ix int) string {
	suffix := "-" + strconv.Itoa(ix) + "-"
	const maxPrefix = 63 - 5 // the API server appends five random characters
	if len(jobName)+len(suffix) > maxPrefix {
		jobName = jobName[:maxPrefix-len(suffix)]
	}
	return jobName + suffix
}
