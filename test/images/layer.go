package images

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// gzipLayer is an OCI gzip layer held in memory, compressed once. (The
// tarball package's layers describe themselves with an empty annotation map
// that a round trip through the manifest turns into none, which
// go-containerregistry's own validation then reports as a mismatch.)
type gzipLayer struct {
	blob   []byte
	digest v1.Hash
}

func newGzipLayer(uncompressed []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf) // zero header time: same input, same bytes
	if _, err := zw.Write(uncompressed); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("layer digest: %w", err)
	}
	return partial.CompressedToLayer(&gzipLayer{blob: buf.Bytes(), digest: digest})
}

func (l *gzipLayer) Digest() (v1.Hash, error) { return l.digest, nil }

func (l *gzipLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}

func (l *gzipLayer) Size() (int64, error) { return int64(len(l.blob)), nil }

func (l *gzipLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
