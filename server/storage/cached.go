package storage

import (
	"bytes"
	"io"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// CachedObject is an object held by the watch cache together with its
// encodings. The object never changes once cached, so each encoding (per
// serializer and version) is computed once and then shared by every list
// and watcher that sends it; apimachinery's codecs recognise it as a
// runtime.CacheableObject. It must not be modified.
type CachedObject struct {
	obj runtime.Object

	mu        sync.Mutex
	encodings map[runtime.Identifier][]byte
}

var _ runtime.CacheableObject = (*CachedObject)(nil)

func newCachedObject(obj runtime.Object) *CachedObject { return &CachedObject{obj: obj} }

// GetObject returns the cached object itself.
func (c *CachedObject) GetObject() runtime.Object { return c.obj }

// CacheEncode writes the encoding identified by id, encoding it first if
// no caller has asked for it before.
func (c *CachedObject) CacheEncode(id runtime.Identifier, encode func(runtime.Object, io.Writer) error, w io.Writer) error {
	c.mu.Lock()
	data, ok := c.encodings[id]
	c.mu.Unlock()
	if !ok {
		var buf bytes.Buffer
		if err := encode(c.obj, &buf); err != nil {
			return err
		}
		data = buf.Bytes()
		c.mu.Lock()
		if c.encodings == nil {
			c.encodings = map[runtime.Identifier][]byte{}
		}
		c.encodings[id] = data
		c.mu.Unlock()
	}
	_, err := w.Write(data)
	return err
}

// GetObjectKind is the wrapped object's.
func (c *CachedObject) GetObjectKind() schema.ObjectKind { return c.obj.GetObjectKind() }

// DeepCopyObject copies the wrapped object (without its encodings).
func (c *CachedObject) DeepCopyObject() runtime.Object { return c.obj.DeepCopyObject() }

// Unwrap returns the plain object behind a CachedObject, or obj itself.
func Unwrap(obj runtime.Object) runtime.Object {
	if c, ok := obj.(*CachedObject); ok {
		return c.obj
	}
	return obj
}
