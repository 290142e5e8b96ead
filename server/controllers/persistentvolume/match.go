package persistentvolume

import (
	"errors"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"
)

// bestMatch picks the volume for a claim that names none. As upstream's
// volume index, it looks at the volumes offering all the claim's access
// modes, those offering the fewest modes first; within them it takes the
// volume pre-bound to the claim (by claimRef) or else the smallest
// Available one that fits (capacity, class, volume mode, selector). With
// delayBinding only a pre-bound volume is taken: choosing among free ones
// is the scheduler's part.
func bestMatch(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, delayBinding bool) (*corev1.PersistentVolume, error) {
	byModes := map[string][]*corev1.PersistentVolume{}
	for _, v := range volumes {
		if storagehelpers.CheckAccessModes(claim, v) {
			key := modesKey(v.Spec.AccessModes)
			byModes[key] = append(byModes[key], v)
		}
	}
	keys := make([]string, 0, len(byModes))
	for k := range byModes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := strings.Count(a, ",") - strings.Count(b, ","); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		match, err := storagehelpers.FindMatchingVolume(claim, byModes[k], nil, nil, delayBinding, true)
		if err != nil || match != nil {
			return match, err
		}
	}
	return nil, nil
}

// modesKey names a set of access modes, one comma per mode past the first.
func modesKey(modes []corev1.PersistentVolumeAccessMode) string {
	set := make([]string, 0, len(modes))
	for _, m := range modes {
		if !slices.Contains(set, string(m)) {
			set = append(set, string(m))
		}
	}
	slices.Sort(set)
	return strings.Join(set, ",")
}

// checkSatisfies tells why the volume a claim asks for by name cannot
// serve it (upstream's wording); nil when it can. A named volume skips
// the selector, as upstream.
func checkSatisfies(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	if volume.DeletionTimestamp != nil {
		return errors.New("the volume is marked for deletion \"" + volume.Name + "\"")
	}
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := volume.Spec.Capacity[corev1.ResourceStorage]
	if capacity.Value() < requested.Value() {
		return errors.New("requested PV is too small")
	}
	if storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim) {
		return errors.New("storageClassName does not match")
	}
	if ptr.Deref(volume.Spec.VolumeAttributesClassName, "") != ptr.Deref(claim.Spec.VolumeAttributesClassName, "") {
		return errors.New("volumeAttributesClassName does not match")
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
		return errors.New("incompatible volumeMode")
	}
	if !storagehelpers.CheckAccessModes(claim, volume) {
		return errors.New("incompatible accessMode")
	}
	return nil
}
