package controllers

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"
)

// TemplateHash is the hash of a pod template that Deployments name their
// ReplicaSets by (pod-template-hash) and DaemonSets their revisions by
// (controller-revision-hash), computed as kube-controller-manager does so
// that one template gets the same names on kite as upstream: FNV-32a over
// the template's deep-printed value, then the collision count (little-
// endian, in eight bytes) if there is one, the decimal sum mapped onto the
// alphabet of generated names.
func TemplateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// TemplatePatch is the data a DaemonSet's or StatefulSet's
// ControllerRevision records: a strategic merge patch that puts the pod
// template back in place (kubectl rollout undo applies exactly this).
// Marshalling maps sorts their keys, so equal templates give equal bytes.
func TemplatePatch(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	fields["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": fields}})
}
