package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

func claimTestPod(name string, app string, controller types.UID) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(name), Labels: map[string]string{"app": app}}}
	if controller != "" {
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: string(controller), UID: controller, Controller: ptr.To(true)}}
	}
	return pod
}

// TestClaimPods: what an owner keeps, adopts and releases, and what the
// API server then shows of each pod.
func TestClaimPods(t *testing.T) {
	deleting := metav1.Now()
	for _, tc := range []struct {
		name        string
		pod         *corev1.Pod
		ownerGone   bool // the owner is being deleted
		freshUID    types.UID
		wantClaimed bool
		wantOwner   types.UID // the pod's controller afterwards
		wantErr     string
	}{
		{name: "owned and matching", pod: claimTestPod("p", "web", "rs"), wantClaimed: true, wantOwner: "rs"},
		{name: "someone else's", pod: claimTestPod("p", "web", "other"), wantOwner: "other"},
		{name: "owned, no longer matching", pod: claimTestPod("p", "db", "rs"), wantOwner: ""},
		{name: "owned, no longer matching, owner being deleted", pod: claimTestPod("p", "db", "rs"), ownerGone: true, wantOwner: "rs"},
		{name: "matching orphan", pod: claimTestPod("p", "web", ""), wantClaimed: true, wantOwner: "rs"},
		{name: "orphan not matching", pod: claimTestPod("p", "db", ""), wantOwner: ""},
		{name: "orphan, owner being deleted", pod: claimTestPod("p", "web", ""), ownerGone: true, wantOwner: ""},
		{name: "orphan being deleted", pod: func() *corev1.Pod {
			p := claimTestPod("p", "web", "")
			p.DeletionTimestamp = &deleting
			p.Finalizers = []string{"keep"}
			return p
		}(), wantOwner: ""},
		{name: "orphan, owner replaced by a namesake", pod: claimTestPod("p", "web", ""), freshUID: "rs2", wantOwner: "",
			wantErr: "can't adopt Pod ns/p (p): can't recheck DeletionTimestamp: original ReplicaSet ns/rs is gone: got uid rs2, wanted rs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rs", UID: "rs"}}
			if tc.ownerGone {
				owner.DeletionTimestamp = &deleting
			}
			fresh := owner.DeepCopy()
			if tc.freshUID != "" {
				fresh.UID = tc.freshUID
			}
			client := fake.NewClientset(tc.pod)
			claimer := NewClaimer(owner, rsKind, labels.SelectorFromSet(labels.Set{"app": "web"}), func(context.Context) (metav1.Object, error) {
				return fresh, nil
			})
			claimed, err := ClaimPods(context.Background(), claimer, client, []*corev1.Pod{tc.pod})
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if got := len(claimed) == 1; got != tc.wantClaimed {
				t.Errorf("claimed %v, want %v", got, tc.wantClaimed)
			}
			stored, err := client.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var owner2 types.UID
			if ref := metav1.GetControllerOf(stored); ref != nil {
				owner2 = ref.UID
			}
			if owner2 != tc.wantOwner {
				t.Errorf("controller afterwards %q, want %q", owner2, tc.wantOwner)
			}
		})
	}
}

// TestClaimFinalizers: adoption adds the Claimer's finalizers and release
// takes them away, leaving others alone; the owner is rechecked once.
func TestClaimFinalizers(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rs", UID: "rs"}}
	orphan, owned := claimTestPod("a", "web", ""), claimTestPod("b", "db", "rs")
	owned.Finalizers = []string{"other", "tracking"}
	client := fake.NewClientset(orphan, owned)
	rechecks := 0
	claimer := NewClaimer(owner, rsKind, labels.SelectorFromSet(labels.Set{"app": "web"}), func(context.Context) (metav1.Object, error) {
		rechecks++
		return owner, nil
	}).AddFinalizers("tracking")
	claimed, err := ClaimPods(context.Background(), claimer, client, []*corev1.Pod{orphan, owned, claimTestPod("c", "web", "")})
	// c is not stored: its adoption finds nothing, which is no error.
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].Name != "a" || !slices.Equal(claimed[0].Finalizers, []string{"tracking"}) {
		t.Fatalf("claimed %v, want pod a as adopted, with the finalizer", claimed)
	}
	if rechecks != 1 {
		t.Errorf("owner rechecked %d times, want once", rechecks)
	}
	released, _ := client.CoreV1().Pods("ns").Get(context.Background(), "b", metav1.GetOptions{})
	if metav1.GetControllerOf(released) != nil || !slices.Equal(released.Finalizers, []string{"other"}) {
		t.Errorf("released pod: owners %v, finalizers %v", released.OwnerReferences, released.Finalizers)
	}
}

// TestClaimKeepsGoing: one failed adoption does not keep the others from
// being claimed.
func TestClaimKeepsGoing(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rs", UID: "rs"}}
	claimer := NewClaimer(owner, rsKind, labels.Everything(), func(context.Context) (metav1.Object, error) { return owner, nil })
	pods := []*corev1.Pod{claimTestPod("a", "web", ""), claimTestPod("b", "web", "rs")}
	claimed, err := Claim(context.Background(), claimer, "Pod", pods, func(_ context.Context, p *corev1.Pod, _ []byte) (*corev1.Pod, error) {
		return nil, errors.New("conflict")
	})
	if err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Errorf("error %v, want the adoption's", err)
	}
	if len(claimed) != 1 || claimed[0].Name != "b" {
		t.Errorf("claimed %v, want b", claimed)
	}
}
