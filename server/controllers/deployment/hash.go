package deployment

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/dump"
)

// templateHash is the pod-template-hash of a pod template, computed as
// kube-controller-manager does so that a Deployment gets the same
// ReplicaSet names on kite as upstream: FNV-32a over the template's
// deep-printed value, then the collision count (little-endian, in eight
// bytes) if there is one, the decimal sum mapped onto the alphabet of
// generated names.
func templateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// replicaSetName is "<deployment>-<hash>", the Deployment's name cut short
// enough for the result to be a valid name.
func replicaSetName(deployment, hash string) string {
	room := validation.DNS1123SubdomainMaxLength - 1 - len(hash)
	if len(deployment) > room && room > 0 {
		deployment = deployment[:room]
	}
	return deployment + "-" + hash
}
