package statefulset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"kite/server/controllers"
)

// revisionHashLabel carries the hash of a ControllerRevision's data.
const revisionHashLabel = "controller.kubernetes.io/hash"

// hashRevision names revision data: FNV-32 of the data, plus the collision
// count when there is one, safely encoded.
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func revisionName(setName, hash string) string {
	if len(setName) > 223 {
		setName = setName[:223]
	}
	return setName + "-" + hash
}

// newRevision builds (without creating) the revision recording set's
// current template.
func newRevision(set *appsv1.StatefulSet, revision int64, collisionCount int32) (*appsv1.ControllerRevision, error) {
	patch, err := controllers.TemplatePatch(&set.Spec.Template)
	if err != nil {
		return nil, err
	}
	hash := hashRevision(patch, &collisionCount)
	lbls := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[revisionHashLabel] = hash
	annotations := map[string]string{}
	for k, v := range set.Annotations {
		annotations[k] = v
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            revisionName(set.Name, hash),
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}, nil
}

// applyRevision returns set with its spec restored from revision.
func applyRevision(set *appsv1.StatefulSet, revision *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	clone := set.DeepCopy()
	original, err := json.Marshal(clone)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(original, revision.Data.Raw, &appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("applying revision %s: %w", revision.Name, err)
	}
	var restored appsv1.StatefulSet
	if err := json.Unmarshal(patched, &restored); err != nil {
		return nil, err
	}
	clone.Spec = restored.Spec
	return clone, nil
}

// sameTemplate tells whether revision records the template of proposed:
// equal bytes, or a semantically equal template (revisions written by
// other serializers may order or omit fields differently).
func sameTemplate(revision, proposed *appsv1.ControllerRevision) bool {
	if bytes.Equal(revision.Data.Raw, proposed.Data.Raw) {
		return true
	}
	a, errA := recordedTemplate(revision)
	b, errB := recordedTemplate(proposed)
	return errA == nil && errB == nil && apiequality.Semantic.DeepEqual(a, b)
}

func recordedTemplate(revision *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(revision.Data.Raw, &data); err != nil {
		return nil, err
	}
	return &data.Spec.Template, nil
}

// sortRevisions orders revisions oldest first: by revision number, then
// creation time, then name.
func sortRevisions(revisions []*appsv1.ControllerRevision) {
	sort.SliceStable(revisions, func(i, j int) bool {
		a, b := revisions[i], revisions[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// listRevisions returns the revisions set controls and the orphans its
// selector matches (orphans are adopted before this is used).
func (c *Controller) listRevisions(set *appsv1.StatefulSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revisions.ControllerRevisions(set.Namespace).List(selector)
	if err != nil {
		return nil, err
	}
	var owned []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref == nil || ref.UID == set.UID {
			owned = append(owned, r)
		}
	}
	return owned, nil
}

// revisionsFor finds set's current and update revisions among revisions
// (sorted oldest first), creating the update revision for a new template
// or renumbering an old one the template went back to. It returns the
// collision count to record in the status.
func (c *Controller) revisionsFor(ctx context.Context, set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	next := int64(1)
	if n := len(revisions); n > 0 {
		next = revisions[n-1].Revision + 1
	}
	proposed, err := newRevision(set, next, collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revisions {
		if sameTemplate(r, proposed) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revisions[len(revisions)-1]:
		// The template has not changed since the latest revision.
		update = revisions[len(revisions)-1]
	case len(equal) > 0:
		// The template went back to an older revision: it becomes the
		// newest again.
		update, err = c.renumberRevision(ctx, set, equal[len(equal)-1], next)
	default:
		update, err = c.createRevision(ctx, set, proposed, &collisionCount)
	}
	if err != nil {
		return nil, nil, collisionCount, err
	}
	for _, r := range revisions {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		// A new set starts its history at the update revision.
		current = update
	}
	return current, update, collisionCount, nil
}

// createRevision creates revision, renaming it with a bumped collision
// count while its name is taken by a revision with other data.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, revision *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	clone := revision.DeepCopy()
	for {
		hash := hashRevision(revision.Data.Raw, collisionCount)
		clone.Name = revisionName(set.Name, hash)
		clone.Labels[revisionHashLabel] = hash
		created, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, clone, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			existing, getErr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, clone.Name, metav1.GetOptions{})
			if getErr != nil {
				return nil, getErr
			}
			if bytes.Equal(existing.Data.Raw, clone.Data.Raw) {
				return existing, nil
			}
			*collisionCount++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating revision %s: %w", clone.Name, err)
		}
		c.written.wrote(set, resourceRevisions, created.ResourceVersion)
		return created, nil
	}
}

func (c *Controller) renumberRevision(ctx context.Context, set *appsv1.StatefulSet, revision *appsv1.ControllerRevision, number int64) (*appsv1.ControllerRevision, error) {
	clone := revision.DeepCopy()
	clone.Revision = number
	updated, err := c.client.AppsV1().ControllerRevisions(clone.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("renumbering revision %s: %w", clone.Name, err)
	}
	c.written.wrote(set, resourceRevisions, updated.ResourceVersion)
	return updated, nil
}

// truncateHistory deletes the oldest revisions no pod and neither the
// current nor the update revision uses, beyond revisionHistoryLimit.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revisions []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{}
	if current != nil {
		live[current.Name] = true
	}
	if update != nil {
		live[update.Name] = true
	}
	for _, pod := range pods {
		live[revisionOf(pod)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range revisions {
		if !live[r.Name] {
			history = append(history, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if limit < 0 || len(history) <= limit {
		return nil
	}
	for _, r := range history[:len(history)-limit] {
		err := c.client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting revision %s: %w", r.Name, err)
		}
	}
	return nil
}
