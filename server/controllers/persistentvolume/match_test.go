package persistentvolume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const (
	rwo = corev1.ReadWriteOnce
	rox = corev1.ReadOnlyMany
	rwx = corev1.ReadWriteMany
)

type volumeOpt func(*corev1.PersistentVolume)

func testVolume(name, size string, modes []corev1.PersistentVolumeAccessMode, opts ...volumeOpt) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes: modes,
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

func withClass(class string) volumeOpt {
	return func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = class }
}

func withPhase(phase corev1.PersistentVolumePhase) volumeOpt {
	return func(v *corev1.PersistentVolume) { v.Status.Phase = phase }
}

func withClaimRef(namespace, name, uid string) volumeOpt {
	return func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: namespace, Name: name, UID: types.UID(uid)}
	}
}

func withLabels(l map[string]string) volumeOpt {
	return func(v *corev1.PersistentVolume) { v.Labels = l }
}

func block(v *corev1.PersistentVolume) { v.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }

func testClaim(size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "claim-uid"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: modes,
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func TestBestMatch(t *testing.T) {
	classed := testClaim("1Gi", rwo)
	classed.Spec.StorageClassName = ptr.To("fast")
	selecting := testClaim("1Gi", rwo)
	selecting.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "ssd"}}
	blockClaim := testClaim("1Gi", rwo)
	blockClaim.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)

	for _, tc := range []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		delay   bool
		want    string // "" for no match
	}{
		{
			name:  "smallest that fits",
			claim: testClaim("1500Mi", rwo),
			volumes: []*corev1.PersistentVolume{
				testVolume("big", "10Gi", []corev1.PersistentVolumeAccessMode{rwo}),
				testVolume("small", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}),
				testVolume("fits", "2Gi", []corev1.PersistentVolumeAccessMode{rwo}),
			},
			want: "fits",
		},
		{
			name:    "none big enough",
			claim:   testClaim("20Gi", rwo),
			volumes: []*corev1.PersistentVolume{testVolume("big", "10Gi", []corev1.PersistentVolumeAccessMode{rwo})},
		},
		{
			name:  "fewest access modes first, then size",
			claim: testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{
				testVolume("many-modes", "1Gi", []corev1.PersistentVolumeAccessMode{rwo, rox, rwx}),
				testVolume("two-modes", "1Gi", []corev1.PersistentVolumeAccessMode{rox, rwo}),
				testVolume("exact", "5Gi", []corev1.PersistentVolumeAccessMode{rwo}),
			},
			want: "exact",
		},
		{
			name:    "access mode missing",
			claim:   testClaim("1Gi", rwx),
			volumes: []*corev1.PersistentVolume{testVolume("rwo", "5Gi", []corev1.PersistentVolumeAccessMode{rwo})},
		},
		{
			name:  "class must be equal",
			claim: classed,
			volumes: []*corev1.PersistentVolume{
				testVolume("no-class", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}),
				testVolume("slow", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClass("slow")),
				testVolume("fast", "2Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClass("fast")),
			},
			want: "fast",
		},
		{
			name:    "classless claim skips classed volumes",
			claim:   testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{testVolume("fast", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClass("fast"))},
		},
		{
			name:  "only Available volumes",
			claim: testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{
				testVolume("pending", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withPhase(corev1.VolumePending)),
				testVolume("released", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withPhase(corev1.VolumeReleased)),
			},
		},
		{
			name:  "claimed by another",
			claim: testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{
				testVolume("other", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClaimRef("ns", "other", "")),
			},
		},
		{
			name:  "pre-bound wins over smaller",
			claim: testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{
				testVolume("small", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}),
				testVolume("reserved", "10Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClaimRef("ns", "data", "")),
			},
			want: "reserved",
		},
		{
			name:  "pre-bound to an earlier claim of the name",
			claim: testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{
				testVolume("old", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClaimRef("ns", "data", "old-uid")),
			},
		},
		{
			name:  "selector",
			claim: selecting,
			volumes: []*corev1.PersistentVolume{
				testVolume("hdd", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withLabels(map[string]string{"disk": "hdd"})),
				testVolume("ssd", "3Gi", []corev1.PersistentVolumeAccessMode{rwo}, withLabels(map[string]string{"disk": "ssd"})),
			},
			want: "ssd",
		},
		{
			name:  "volume mode",
			claim: blockClaim,
			volumes: []*corev1.PersistentVolume{
				testVolume("fs", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}),
				testVolume("block", "2Gi", []corev1.PersistentVolumeAccessMode{rwo}, block),
			},
			want: "block",
		},
		{
			name:    "delayed binding skips free volumes",
			claim:   testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{testVolume("free", "1Gi", []corev1.PersistentVolumeAccessMode{rwo})},
			delay:   true,
		},
		{
			name:    "delayed binding takes a pre-bound volume",
			claim:   testClaim("1Gi", rwo),
			volumes: []*corev1.PersistentVolume{testVolume("reserved", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, withClaimRef("ns", "data", ""))},
			delay:   true,
			want:    "reserved",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bestMatch(tc.claim, tc.volumes, tc.delay)
			if err != nil {
				t.Fatal(err)
			}
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Errorf("matched %q, want %q", name, tc.want)
			}
		})
	}
}

func TestCheckSatisfies(t *testing.T) {
	classed := testClaim("1Gi", rwo)
	classed.Spec.StorageClassName = ptr.To("fast")
	deleting := testVolume("v", "1Gi", []corev1.PersistentVolumeAccessMode{rwo})
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	for _, tc := range []struct {
		name   string
		volume *corev1.PersistentVolume
		claim  *corev1.PersistentVolumeClaim
		want   string
	}{
		{"fits", testVolume("v", "1Gi", []corev1.PersistentVolumeAccessMode{rwo, rwx}), testClaim("1Gi", rwo), ""},
		{"too small", testVolume("v", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}), testClaim("2Gi", rwo), "requested PV is too small"},
		{"class", testVolume("v", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}), classed, "storageClassName does not match"},
		{"mode", testVolume("v", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}, block), testClaim("1Gi", rwo), "incompatible volumeMode"},
		{"access", testVolume("v", "1Gi", []corev1.PersistentVolumeAccessMode{rwo}), testClaim("1Gi", rwx), "incompatible accessMode"},
		{"deleting", deleting, testClaim("1Gi", rwo), `the volume is marked for deletion "v"`},
	} {
		err := checkSatisfies(tc.volume, tc.claim)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestModesKey(t *testing.T) {
	for _, tc := range []struct {
		modes []corev1.PersistentVolumeAccessMode
		want  string
	}{
		{nil, ""},
		{[]corev1.PersistentVolumeAccessMode{rwo}, "ReadWriteOnce"},
		{[]corev1.PersistentVolumeAccessMode{rwx, rwo, rwo}, "ReadWriteMany,ReadWriteOnce"},
	} {
		if got := modesKey(tc.modes); got != tc.want {
			t.Errorf("modesKey(%v) = %q, want %q", tc.modes, got, tc.want)
		}
	}
}
