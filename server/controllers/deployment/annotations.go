package deployment

import (
	"math"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The annotations kube-controller-manager keeps on Deployments and their
// ReplicaSets; kubectl reads them for rollout history and undo.
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	// revisionHistoryMaxChars bounds the revision-history annotation
	// (about 100 revisions).
	revisionHistoryMaxChars = 2000
)

// notCopied are the Deployment annotations that are not copied to its
// ReplicaSets (and not copied back on a rollback): they are the
// controller's own, or kubectl's record of the last apply.
var notCopied = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	revisionAnnotation:                 true,
	revisionHistoryAnnotation:          true,
	desiredReplicasAnnotation:          true,
	maxReplicasAnnotation:              true,
	appsv1.DeprecatedRollbackTo:        true,
}

// revision reads an object's revision annotation; no annotation is
// revision 0.
func revision(annotations map[string]string) (int64, error) {
	v, ok := annotations[revisionAnnotation]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// maxRevision is the highest revision among rss, ignoring unreadable ones.
func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		if v, err := revision(rs.Annotations); err == nil && v > m {
			m = v
		}
	}
	return m
}

// lastRevision is the second highest revision among rss: the one before
// the current.
func lastRevision(rss []*appsv1.ReplicaSet) int64 {
	var first, second int64
	for _, rs := range rss {
		v, err := revision(rs.Annotations)
		if err != nil {
			continue
		}
		if v >= first {
			first, second = v, first
		} else if v > second {
			second = v
		}
	}
	return second
}

// setNewReplicaSetAnnotations brings the new ReplicaSet's annotations up
// to date: the Deployment's own annotations, the revision (raised to
// newRevision, remembering the revisions it served before in
// revision-history) and, for a ReplicaSet about to be created, the
// replica annotations. It tells whether anything changed.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := copyAnnotations(d, rs)
	old, hadRevision := rs.Annotations[revisionAnnotation]
	oldRevision, err := strconv.ParseInt(old, 10, 64)
	if err != nil {
		if old != "" {
			return false // not ours to fix
		}
		oldRevision = 0
	}
	if oldRevision < newRevision {
		rs.Annotations[revisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if hadRevision {
			// Rolled back to: keep the revisions it served before.
			rs.Annotations[revisionHistoryAnnotation] = appendRevisionHistory(rs.Annotations[revisionHistoryAnnotation], old)
		}
	}
	if !exists && setReplicasAnnotations(rs, *d.Spec.Replicas, *d.Spec.Replicas+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory adds revision to a comma-separated history,
// dropping the oldest entries to stay within revisionHistoryMaxChars.
func appendRevisionHistory(history, revision string) string {
	if history == "" {
		return revision
	}
	entries := strings.Split(history, ",")
	total := len(history) + len(revision) + 1
	start := 0
	for total > revisionHistoryMaxChars && start < len(entries) {
		total -= len(entries[start]) + 1
		start++
	}
	if total > revisionHistoryMaxChars {
		return history
	}
	return strings.Join(append(entries[start:], revision), ",")
}

// copyAnnotations copies the Deployment's annotations, but the
// controller's own, to rs; it tells whether rs changed.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range d.Annotations {
		if notCopied[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the Deployment's desired and maximum
// replica counts on rs; it tells whether rs changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range map[string]string{desiredReplicasAnnotation: strconv.Itoa(int(desired)), maxReplicasAnnotation: strconv.Itoa(int(maxReplicas))} {
		if rs.Annotations[k] != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	return changed
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[desiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[maxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

// int32Annotation reads a non-negative int32 annotation of rs.
func int32Annotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// setDeploymentRevision records revision on the Deployment; it tells
// whether that changed it.
func setDeploymentRevision(d *appsv1.Deployment, revision string) bool {
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	if d.Annotations[revisionAnnotation] == revision {
		return false
	}
	d.Annotations[revisionAnnotation] = revision
	return true
}

// setAnnotationsFrom replaces the Deployment's annotations by those of the
// ReplicaSet it is rolled back to, keeping the controller's own.
func setAnnotationsFrom(d *appsv1.Deployment, rs *appsv1.ReplicaSet) {
	kept := map[string]string{}
	for k, v := range d.Annotations {
		if notCopied[k] {
			kept[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !notCopied[k] {
			kept[k] = v
		}
	}
	d.Annotations = kept
}
