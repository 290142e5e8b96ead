package apiserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"

	"kite/server/storage"
)

// writeJSONList answers a plain JSON list by writing the list envelope and
// each item's cached encoding, instead of converting and encoding the
// whole list again for every request: a list of 10,000 objects then costs
// little more than copying bytes. It returns false, having written
// nothing, when the request needs the general path (tables, YAML,
// protobuf, pretty output, objects read from etcd).
func (h *resourceHandler) writeJSONList(w http.ResponseWriter, r *http.Request, result *storage.ListResult) bool {
	opts, info, err := negotiateOutput(r)
	if err != nil || opts.Convert != nil || opts.Pretty || isTrue(r.URL.Query().Get("pretty")) || info.MediaType != runtime.ContentTypeJSON {
		return false
	}
	for _, item := range result.Items {
		if _, ok := item.(*storage.CachedObject); !ok {
			return false
		}
	}
	meta := map[string]any{"resourceVersion": fmt.Sprint(result.Revision)}
	if result.Continue != "" {
		meta["continue"] = result.Continue
	}
	if result.Remaining != nil {
		meta["remainingItemCount"] = *result.Remaining
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return false
	}
	enc := codecs.EncoderForVersion(info.Serializer, h.res.GroupVersion)
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, h.res.Kind+"List", h.res.GroupVersion.String(), metaJSON)
	for i, item := range result.Items {
		if i > 0 {
			bw.WriteByte(',')
		}
		// The JSON serializer ends each object with a newline, which is
		// valid whitespace inside the array.
		if err := enc.Encode(item, bw); err != nil {
			// The status line is gone; cut the body short so the client
			// sees a broken response rather than a wrong one.
			panic(http.ErrAbortHandler)
		}
	}
	bw.WriteString("]}\n")
	_ = bw.Flush()
	return true
}
