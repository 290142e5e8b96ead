// Package storage keeps API objects in etcd: keys, resourceVersion as the etcd
// mod revision, compare-and-swap updates, and a watch cache fed by a single
// etcd watch that serves lists and fans events out to every watcher.
package storage

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// Codec turns internal objects into their stored form (protobuf of the
// storage version, as kube-apiserver stores built-in types) and back.
type Codec struct {
	enc runtime.Encoder
	dec runtime.Decoder
}

var protoSerializer = protobuf.NewSerializer(legacyscheme.Scheme, legacyscheme.Scheme)

// NewCodec returns the codec for objects stored as storageVersion and used
// inside the server as the internal version of internalGroup.
func NewCodec(storageVersion schema.GroupVersion, internalGroup string) Codec {
	internal := schema.GroupVersion{Group: internalGroup, Version: runtime.APIVersionInternal}
	return Codec{
		enc: legacyscheme.Codecs.EncoderForVersion(protoSerializer, storageVersion),
		dec: legacyscheme.Codecs.DecoderToVersion(protoSerializer, internal),
	}
}

// Encode serializes an internal object for etcd.
func (c Codec) Encode(obj runtime.Object) ([]byte, error) {
	return runtime.Encode(c.enc, obj)
}

// Decode parses a stored value into an internal object.
func (c Codec) Decode(data []byte) (runtime.Object, error) {
	obj, _, err := c.dec.Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding stored object: %w", err)
	}
	return obj, nil
}
