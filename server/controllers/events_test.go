package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestEventSeries: Events differing only in their note stay apart, and a
// repeated Event becomes one Event whose series counts the repeats.
func TestEventSeries(t *testing.T) {
	client := fake.NewClientset()
	sink := newEventSink(client.EventsV1())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink.run(ctx)
	rec := newEventRecorder(sink, "replicaset-controller")
	rs := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"}}

	rec.Eventf(rs, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %s", "web-a")
	rec.Eventf(rs, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created pod: %s", "web-b")
	for i := 0; i < 3; i++ {
		rec.Eventf(rs, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: quota")
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := client.EventsV1().Events("ns").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		notes := map[string]*eventsv1.Event{}
		for i := range list.Items {
			notes[list.Items[i].Note] = &list.Items[i]
		}
		failed := notes["Error creating: quota"]
		if len(list.Items) == 3 && notes["Created pod: web-a"] != nil && notes["Created pod: web-b"] != nil &&
			failed != nil && failed.Series != nil && failed.Series.Count == 3 {
			if failed.ReportingController != "replicaset-controller" || failed.Regarding.Name != "web" || failed.Type != corev1.EventTypeWarning {
				t.Errorf("event %+v", failed)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %+v: want two creates and one FailedCreate with a series of 3", list.Items)
		}
		time.Sleep(50 * time.Millisecond)
		sink.flushSeries(ctx) // rather than wait for the periodic flush
	}
}
