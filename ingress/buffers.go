package ingress

import "sync"

// copyBufferSize is the size of the buffer a response body is copied
// and a request body streamed through.
const copyBufferSize = 32 << 10

// bufferPool lends the body copy buffers out again, so requests do not
// allocate (and the collector clear) 32 KiB each. Buffers travel as
// pointers: putting a slice back into a sync.Pool would allocate.
type bufferPool struct{ pool sync.Pool }

// copyBuffers serves every request of every Proxy in the process.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}}

// Get returns a buffer of copyBufferSize bytes.
func (p *bufferPool) Get() *[]byte { return p.pool.Get().(*[]byte) }

// Put takes a buffer from Get back.
func (p *bufferPool) Put(b *[]byte) { p.pool.Put(b) }
