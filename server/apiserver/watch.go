package apiserver

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"

	"kite/server/storage"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one,
// about kube-apiserver's once a minute.
const bookmarkInterval = time.Minute

func (h *resourceHandler) watch(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := h.listOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rev, err := storage.ParseRevision(opts.ResourceVersion)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cache := h.store.Cache()
	wopts := storage.WatchOptions{FromRevision: rev}
	initialEvents := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	if opts.ResourceVersion == "" || initialEvents {
		// "" means the current state, read consistently.
		cur, err := cache.WaitFresh(r.Context())
		if err != nil {
			writeError(w, r, apierrors.NewTimeoutError(err.Error(), 1))
			return
		}
		if opts.SendInitialEvents != nil && !*opts.SendInitialEvents {
			wopts.FromRevision = cur
		} else {
			wopts.FromRevision = 0
		}
	}
	if initialEvents {
		if rev > 0 {
			if err := cache.WaitForRevision(r.Context(), rev); err != nil {
				writeError(w, r, apierrors.NewTimeoutError(err.Error(), 1))
				return
			}
		}
		wopts.FromRevision = 0
		wopts.InitialEventsEnd = opts.AllowWatchBookmarks
	}
	mediaOpts, serializer, err := negotiateOutput(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if serializer.StreamSerializer == nil {
		writeError(w, r, negotiation.NewNotAcceptableError([]string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf}))
		return
	}
	watcher, err := cache.Watch(r.Context(), h.store.StorageResource(), h.store.Prefix(info.namespace), predicateOf(opts), h.res.New, wopts)
	if apierrors.IsResourceExpired(err) {
		// As kube-apiserver's watch cache does, a resourceVersion older
		// than the history is reported in the stream, as an ERROR event.
		w.Header().Set("Content-Type", serializer.MediaType)
		w.WriteHeader(http.StatusOK)
		_ = newWatchEncoder(w, serializer, h.res.GroupVersion).encode(watch.Event{Type: watch.Error, Object: statusFor(err)})
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer watcher.Stop()

	timeout := time.Duration(float64(30*time.Minute) * (1 + rand.Float64()))
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	enc := newWatchEncoder(w, serializer, h.res.GroupVersion)
	if mediaOpts.Convert != nil {
		// kubectl get -w asks for Tables: each event carries a one-row
		// table, with column definitions only in the first.
		kind := mediaOpts.Convert.Kind
		enc.object = codecs.EncoderForVersion(serializer.Serializer, metav1.SchemeGroupVersion)
		first := true
		enc.transformBookmarks = kind != "Table"
		enc.transform = func(obj runtime.Object) (runtime.Object, error) {
			out, err := h.transform(r, storage.Unwrap(obj), kind)
			if t, ok := out.(*metav1.Table); ok && err == nil {
				if !first {
					t.ColumnDefinitions = nil
				}
				first = false
			}
			return out, err
		}
	}
	w.Header().Set("Content-Type", serializer.MediaType)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	for _, ev := range watcher.Initial() {
		if ev.Type == watch.Bookmark && !opts.AllowWatchBookmarks {
			continue
		}
		if err := enc.encode(ev); err != nil {
			return
		}
	}
	flush()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var bookmarks <-chan time.Time
	if opts.AllowWatchBookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		bookmarks = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-timer.C:
			return
		case <-bookmarks:
			watcher.RequestBookmark()
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				return
			}
			if err := enc.encode(ev); err != nil {
				return
			}
			if len(watcher.ResultChan()) == 0 {
				flush()
			}
		}
	}
}

// watchEncoder writes watch events in the negotiated streaming format:
// each event a WatchEvent envelope around the encoded object.
type watchEncoder struct {
	frame    interface{ Write([]byte) (int, error) }
	envelope runtime.Encoder
	object   runtime.Encoder
	// transform, when set, converts event objects (not bookmarks) into
	// the representation the client asked for.
	transform          func(runtime.Object) (runtime.Object, error)
	transformBookmarks bool // metadata watches get metadata bookmarks
	buf                bytes.Buffer
}

func newWatchEncoder(w http.ResponseWriter, s runtime.SerializerInfo, gv schema.GroupVersion) *watchEncoder {
	return &watchEncoder{
		frame:    s.StreamSerializer.Framer.NewFrameWriter(w),
		envelope: codecs.EncoderForVersion(s.StreamSerializer.Serializer, schema.GroupVersion{Version: "v1"}),
		object:   codecs.EncoderForVersion(s.Serializer, gv),
	}
}

func (e *watchEncoder) encode(ev watch.Event) error {
	e.buf.Reset()
	obj := ev.Object
	if ev.Type == watch.Error {
		obj = statusFor(apierrors.FromObject(obj))
	} else if e.transform != nil && (ev.Type != watch.Bookmark || e.transformBookmarks) {
		var err error
		if obj, err = e.transform(obj); err != nil {
			return err
		}
	}
	if err := e.object.Encode(obj, &e.buf); err != nil {
		return err
	}
	raw := append([]byte(nil), e.buf.Bytes()...)
	e.buf.Reset()
	if err := e.envelope.Encode(&metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: raw}}, &e.buf); err != nil {
		return err
	}
	_, err := e.frame.Write(e.buf.Bytes())
	return err
}
