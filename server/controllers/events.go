package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/reference"
)

const (
	// eventQueueLength bounds the Events waiting to be written; beyond
	// it new ones are dropped, as client-go's broadcaster drops them.
	eventQueueLength = 4096
	// eventWriters is how many Events are written at once: few, so that
	// a burst of Events never crowds out the controllers' own writes.
	eventWriters = 4
	// seriesWindow is how long after its last occurrence a repeat of an
	// Event still counts in its series (client-go's 6 minutes).
	seriesWindow = 6 * time.Minute
	// seriesFlush is how often a growing series count is written.
	seriesFlush = 30 * time.Second
	// noteLimit is the longest note the API accepts.
	noteLimit = 1024
)

// eventSink writes the events.k8s.io/v1 Events of every controller in the
// process. An Event that repeats one already written (same object,
// related object, reason, action, type and note) within seriesWindow is
// not written again: it becomes a series whose count is patched in.
// Unlike client-go's broadcaster, the note is part of what makes Events
// the same, so "Created pod: a" and "Created pod: b" stay two Events as
// with upstream's controllers, and writes go through a few workers.
type eventSink struct {
	client eventsclient.EventsV1Interface
	queue  chan *eventsv1.Event
	flush  chan struct{} // asks for a series flush now
	log    *slog.Logger

	mu     sync.Mutex
	recent map[eventKey]*seriesEntry
}

type eventKey struct {
	regarding, related                    corev1.ObjectReference
	controller, typ, reason, action, note string
}

type seriesEntry struct {
	event   *eventsv1.Event // as last written (name, namespace)
	count   int32
	last    time.Time
	written int32 // the count last written
}

func newEventSink(client eventsclient.EventsV1Interface) *eventSink {
	return &eventSink{client: client, queue: make(chan *eventsv1.Event, eventQueueLength), flush: make(chan struct{}, 1),
		log: slog.Default().With("component", "events"), recent: map[eventKey]*seriesEntry{}}
}

// run writes Events until ctx ends.
func (s *eventSink) run(ctx context.Context) {
	for i := 0; i < eventWriters; i++ {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-s.queue:
					s.write(ctx, ev)
				}
			}
		}()
	}
	go func() {
		tick := time.NewTicker(seriesFlush)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-s.flush:
			}
			s.flushSeries(ctx)
		}
	}()
}

func keyOf(ev *eventsv1.Event) eventKey {
	k := eventKey{regarding: ev.Regarding, controller: ev.ReportingController, typ: ev.Type, reason: ev.Reason, action: ev.Action, note: ev.Note}
	if ev.Related != nil {
		k.related = *ev.Related
	}
	// The versions of the objects change with every write; they do not
	// make an Event different.
	k.regarding.ResourceVersion, k.related.ResourceVersion = "", ""
	return k
}

// record queues ev, or counts it into the series of its twin.
func (s *eventSink) record(ev *eventsv1.Event) {
	key := keyOf(ev)
	now := time.Now()
	s.mu.Lock()
	if e, ok := s.recent[key]; ok && now.Sub(e.last) < seriesWindow {
		e.count++
		e.last = now
		first := e.count == 2
		s.mu.Unlock()
		if first {
			// A repeat shows at once; later ones at the next flush.
			select {
			case s.flush <- struct{}{}:
			default:
			}
		}
		return
	}
	s.recent[key] = &seriesEntry{event: ev, count: 1, last: now, written: 1}
	s.mu.Unlock()
	select {
	case s.queue <- ev:
	default:
		s.log.Warn("too many events queued; dropping one", "reason", ev.Reason, "object", ev.Regarding.Name)
	}
}

func (s *eventSink) write(ctx context.Context, ev *eventsv1.Event) {
	_, err := s.client.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
		// Typically the namespace is going away; an Event is not worth
		// a retry.
		s.log.Debug("event not written", "reason", ev.Reason, "object", ev.Regarding.Name, "err", err)
	}
}

// flushSeries writes the counts of series that grew since their last
// write, and forgets series that ended.
func (s *eventSink) flushSeries(ctx context.Context) {
	type pending struct {
		key           eventKey
		ns, name      string
		count, before int32
		last          time.Time
	}
	var due []pending
	now := time.Now()
	s.mu.Lock()
	for k, e := range s.recent {
		switch {
		case now.Sub(e.last) >= seriesWindow:
			delete(s.recent, k)
		case e.count > e.written:
			due = append(due, pending{k, e.event.Namespace, e.event.Name, e.count, e.written, e.last})
			e.written = e.count
		}
	}
	s.mu.Unlock()
	for _, p := range due {
		patch, _ := json.Marshal(map[string]any{"series": eventsv1.EventSeries{Count: p.count, LastObservedTime: metav1.NewMicroTime(p.last)}})
		if _, err := s.client.Events(p.ns).Patch(ctx, p.name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && ctx.Err() == nil {
			// Most likely the Event itself is still queued: try again
			// at the next flush.
			s.log.Debug("event series not written", "event", p.name, "err", err)
			s.mu.Lock()
			if e, ok := s.recent[p.key]; ok && e.written == p.count {
				e.written = p.before
			}
			s.mu.Unlock()
		}
	}
}

// eventRecorder makes Events of one reporting controller.
type eventRecorder struct {
	sink       *eventSink
	controller string
	instance   string
}

func newEventRecorder(sink *eventSink, controller string) *eventRecorder {
	host, _ := os.Hostname()
	return &eventRecorder{sink: sink, controller: controller, instance: controller + "-" + host}
}

// Eventf records an Event about regarding (and related, if not nil), as
// client-go's events.EventRecorder does.
func (r *eventRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ref, err := reference.GetReference(scheme.Scheme, regarding)
	if err != nil {
		r.sink.log.Warn("event about an object without a reference", "reason", reason, "err", err)
		return
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(scheme.Scheme, related); err != nil {
			relatedRef = nil
		}
	}
	message := fmt.Sprintf(note, args...)
	if len(message) > noteLimit {
		message = message[:noteLimit]
	}
	now := time.Now()
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	r.sink.record(&eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()), Namespace: namespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                message,
		Type:                eventtype,
	})
}
