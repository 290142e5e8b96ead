package deployment

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// specReplicas sums the desired sizes of rss (nil entries count 0).
func specReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += *rs.Spec.Replicas
		}
	}
	return n
}

// statusSum sums one status count over rss.
func statusSum(rss []*appsv1.ReplicaSet, count func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += count(&rs.Status)
		}
	}
	return n
}

func actualReplicas(s *appsv1.ReplicaSetStatus) int32    { return s.Replicas }
func readyReplicas(s *appsv1.ReplicaSetStatus) int32     { return s.ReadyReplicas }
func availableReplicas(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas }

// terminatingReplicas sums the terminating pods of rss, or is nil when a
// ReplicaSet the ReplicaSet controller has synced does not report them
// (then the sum would be wrong).
func terminatingReplicas(rss []*appsv1.ReplicaSet) *int32 {
	var n int32
	for _, rs := range rss {
		switch {
		case rs == nil:
		case rs.Status.TerminatingReplicas != nil:
			n += *rs.Status.TerminatingReplicas
		case rs.Status.ObservedGeneration != 0:
			return nil
		}
	}
	return &n
}

// active keeps the ReplicaSets that have, or should have, pods.
func active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && *rs.Spec.Replicas > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// olderFirst orders ReplicaSets by creation, the name breaking ties.
func olderFirst(rss []*appsv1.ReplicaSet) func(i, j int) bool {
	return func(i, j int) bool { return createdBefore(rss[i], rss[j]) }
}

func createdBefore(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

// largerFirst orders ReplicaSets by size, descending; among equal sizes
// newer ones first when newerFirst, else older ones first.
func largerFirst(rss []*appsv1.ReplicaSet, newerFirst bool) func(i, j int) bool {
	return func(i, j int) bool {
		a, b := rss[i], rss[j]
		if *a.Spec.Replicas != *b.Spec.Replicas {
			return *a.Spec.Replicas > *b.Spec.Replicas
		}
		if newerFirst {
			return createdBefore(b, a)
		}
		return createdBefore(a, b)
	}
}

// byRevision orders ReplicaSets by revision, oldest first, creation
// breaking ties and unreadable revisions.
func byRevision(rss []*appsv1.ReplicaSet) func(i, j int) bool {
	return func(i, j int) bool {
		ri, erri := revision(rss[i].Annotations)
		rj, errj := revision(rss[j].Annotations)
		if erri != nil || errj != nil || ri == rj {
			return createdBefore(rss[i], rss[j])
		}
		return ri < rj
	}
}

// equalIgnoringHash compares pod templates, ignoring the pod-template-hash
// label the ReplicaSets carry and the Deployment's template does not.
func equalIgnoringHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return equality.Semantic.DeepEqual(a, b)
}

// findNewReplicaSet is the ReplicaSet running d's current template: the
// oldest, should there be several.
func findNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	sort.SliceStable(sorted, olderFirst(sorted))
	for _, rs := range sorted {
		if equalIgnoringHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// oldReplicaSets are all of rss but the new one.
func oldReplicaSets(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	newRS := findNewReplicaSet(d, rss)
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if newRS == nil || rs.UID != newRS.UID {
			out = append(out, rs)
		}
	}
	return out
}

// activeOrLatest is the one ReplicaSet to give every replica to when at
// most one is active: the active one, or else the new one, or else the
// newest old one. It is nil when several are active.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	newestFirst := append([]*appsv1.ReplicaSet(nil), old...)
	sort.SliceStable(newestFirst, func(i, j int) bool { return createdBefore(newestFirst[j], newestFirst[i]) })
	act := active(append(newestFirst, newRS))
	switch len(act) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return newestFirst[0]
	case 1:
		return act[0]
	}
	return nil
}

// isSaturated tells whether rs already is all of d: sized and recorded at
// d's desired count, with every pod available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := int32Annotation(rs, desiredReplicasAnnotation)
	return ok && *rs.Spec.Replicas == *d.Spec.Replicas && desired == *d.Spec.Replicas && rs.Status.AvailableReplicas == *d.Spec.Replicas
}
