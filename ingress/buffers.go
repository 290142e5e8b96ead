package ingress

import "sync"

// copyBufferSize is the size of the buffer a response body is copied
// through, the size ReverseProxy would otherwise allocate per request.
const copyBufferSize = 32 << 10

// bufferPool lends the body copy buffers out again, so requests do not
// allocate (and the collector clear) 32 KiB each.
type bufferPool struct{ pool sync.Pool }

// copyBuffers serves every request of every Proxy in the process.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}}

// Get returns a buffer of copyBufferSize bytes.
func (p *bufferPool) Get() []byte { return *p.pool.Get().(*[]byte) }

// Put takes a buffer back; buffers of another size are left to the collector.
func (p *bufferPool) Put(b []byte) {
	if cap(b) != copyBufferSize {
		return
	}
	b = b[:copyBufferSize]
	p.pool.Put(&b)
}
