package storage

import (
	"bytes"
	"io"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
)

func TestCachedObjectEncodesOncePerCodec(t *testing.T) {
	cm := &api.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", ResourceVersion: "7"}, Data: map[string]string{"k": "v"}}
	cached := newCachedObject(cm)
	info, _ := runtime.SerializerInfoForMediaType(legacyscheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	enc := legacyscheme.Codecs.EncoderForVersion(info.Serializer, schema.GroupVersion{Version: "v1"})

	var plain, first, second bytes.Buffer
	if err := enc.Encode(cm, &plain); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(cached, &first); err != nil {
		t.Fatal(err)
	}
	if plain.String() != first.String() {
		t.Fatalf("cached encoding differs:\n%s\nwant\n%s", first.String(), plain.String())
	}
	calls := 0
	id := runtime.Identifier("test")
	count := func(obj runtime.Object, w io.Writer) error { calls++; return enc.Encode(obj, w) }
	for i := 0; i < 3; i++ {
		second.Reset()
		if err := cached.CacheEncode(id, count, &second); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || second.String() != plain.String() {
		t.Fatalf("encode called %d times (want 1), output %q", calls, second.String())
	}
	if Unwrap(cached) != runtime.Object(cm) || Unwrap(cm) != runtime.Object(cm) {
		t.Fatal("Unwrap does not return the plain object")
	}
}
