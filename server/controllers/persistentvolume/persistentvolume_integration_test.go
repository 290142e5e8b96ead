package persistentvolume_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kite/server/controllers"
	"kite/server/controllers/controllertest"
	"kite/server/controllers/persistentvolume"
	"kite/server/servertest"
)

const (
	ns                   = "default"
	annBoundByController = "pv.kubernetes.io/bound-by-controller"
	annBindCompleted     = "pv.kubernetes.io/bind-completed"
)

var rwo = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}

// term runs one leadership term of the controller until stop is called.
func term(cc *controllers.Context) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cc.Run(ctx, persistentvolume.New(cc))
	}()
	return func() {
		cancel()
		<-done
	}
}

func start(t *testing.T) kubernetes.Interface {
	s, cc := controllertest.Start(t)
	t.Cleanup(term(cc))
	return s.Client
}

func hostPathVolume(name, size string, modes []corev1.PersistentVolumeAccessMode, change ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		},
	}
	for _, ch := range change {
		ch(v)
	}
	return v
}

func claim(name, size string, modes []corev1.PersistentVolumeAccessMode, change ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: modes,
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	for _, ch := range change {
		ch(c)
	}
	return c
}

func createVolume(t *testing.T, c kubernetes.Interface, v *corev1.PersistentVolume) {
	t.Helper()
	if _, err := c.CoreV1().PersistentVolumes().Create(context.Background(), v, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating volume %s: %v", v.Name, err)
	}
}

func createClaim(t *testing.T, c kubernetes.Interface, pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	t.Helper()
	created, err := c.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), pvc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating claim %s: %v", pvc.Name, err)
	}
	return created
}

func getVolume(t *testing.T, c kubernetes.Interface, name string) *corev1.PersistentVolume {
	t.Helper()
	v, err := c.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("volume %s: %v", name, err)
	}
	return v
}

func getClaim(t *testing.T, c kubernetes.Interface, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim %s: %v", name, err)
	}
	return pvc
}

// waitBound waits until claim and volume are bound to each other, both
// sides and both phases, and returns them.
func waitBound(t *testing.T, c kubernetes.Interface, claimName, volumeName string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
	t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	var pv *corev1.PersistentVolume
	controllertest.Eventually(t, fmt.Sprintf("claim %s bound to volume %s", claimName, volumeName), func() (bool, string) {
		ctx := context.Background()
		var err error
		if pvc, err = c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claimName, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		if pv, err = c.CoreV1().PersistentVolumes().Get(ctx, volumeName, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		status := fmt.Sprintf("claim %s volumeName %q; volume %s claimRef %v", pvc.Status.Phase, pvc.Spec.VolumeName, pv.Status.Phase, pv.Spec.ClaimRef)
		return pvc.Status.Phase == corev1.ClaimBound && pv.Status.Phase == corev1.VolumeBound &&
			pvc.Spec.VolumeName == volumeName && pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == pvc.UID, status
	})
	return pvc, pv
}

func waitVolumePhase(t *testing.T, c kubernetes.Interface, name string, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	controllertest.Eventually(t, fmt.Sprintf("volume %s %s", name, phase), func() (bool, string) {
		var err error
		if pv, err = c.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		return pv.Status.Phase == phase, string(pv.Status.Phase)
	})
	return pv
}

// waitEvent waits for an event of the reason about the object and
// returns its note.
func waitEvent(t *testing.T, c kubernetes.Interface, name, reason string) string {
	t.Helper()
	note := ""
	controllertest.Eventually(t, fmt.Sprintf("event %s about %s", reason, name), func() (bool, string) {
		var seen []string
		for _, e := range controllertest.EventsAbout(t, c, ns, name) {
			seen = append(seen, e.Reason)
			if e.Reason == reason {
				note = e.Note
				return true, ""
			}
		}
		return false, strings.Join(seen, ",")
	})
	return note
}

// TestIntegrationBinding: a claim naming a volume gets it; a claim naming
// none gets the smallest fitting Available volume, or the one pre-bound
// to it; claims nothing fits stay Pending, saying why.
func TestIntegrationBinding(t *testing.T) {
	c := start(t)
	ctx := context.Background()

	// By name.
	createVolume(t, c, hostPathVolume("named", "1Gi", rwo))
	named := createClaim(t, c, claim("named-claim", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "named" }))
	pvc, pv := waitBound(t, c, "named-claim", "named")
	ref := pv.Spec.ClaimRef
	if ref.Kind != "PersistentVolumeClaim" || ref.APIVersion != "v1" || ref.Namespace != ns || ref.Name != "named-claim" || ref.UID != named.UID || ref.ResourceVersion == "" {
		t.Errorf("claimRef %+v", ref)
	}
	if pv.Annotations[annBoundByController] != "yes" || pvc.Annotations[annBindCompleted] != "yes" {
		t.Errorf("annotations: volume %v, claim %v", pv.Annotations, pvc.Annotations)
	}
	if _, ok := pvc.Annotations[annBoundByController]; ok {
		t.Errorf("claim that named its volume marked bound-by-controller: %v", pvc.Annotations)
	}
	if got := pvc.Status.Capacity[corev1.ResourceStorage]; got.String() != "1Gi" || len(pvc.Status.AccessModes) != 1 {
		t.Errorf("claim status %+v", pvc.Status)
	}

	// Smallest that fits; "rwx" has more modes than asked for, "tiny" is too small.
	createVolume(t, c, hostPathVolume("big", "10Gi", rwo))
	createVolume(t, c, hostPathVolume("tiny", "1Gi", rwo))
	createVolume(t, c, hostPathVolume("fits", "2Gi", rwo))
	createVolume(t, c, hostPathVolume("rwx", "2Gi", []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteMany}))
	waitVolumePhase(t, c, "fits", corev1.VolumeAvailable)
	createClaim(t, c, claim("best", "1500Mi", rwo))
	pvc, pv = waitBound(t, c, "best", "fits")
	if pvc.Annotations[annBoundByController] != "yes" || pv.Annotations[annBoundByController] != "yes" {
		t.Errorf("annotations: volume %v, claim %v", pv.Annotations, pvc.Annotations)
	}
	if got := pvc.Status.Capacity[corev1.ResourceStorage]; got.String() != "2Gi" {
		t.Errorf("claim capacity %s, want the volume's 2Gi", got.String())
	}

	// Pre-bound by claimRef beats a smaller free volume.
	createVolume(t, c, hostPathVolume("reserved", "20Gi", rwo, func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: ns, Name: "wants-reserved"}
	}))
	waitVolumePhase(t, c, "reserved", corev1.VolumeAvailable)
	createClaim(t, c, claim("wants-reserved", "1Gi", rwo))
	_, pv = waitBound(t, c, "wants-reserved", "reserved")
	if _, ok := pv.Annotations[annBoundByController]; ok {
		t.Errorf("volume pre-bound by the user marked bound-by-controller: %v", pv.Annotations)
	}

	// Nothing fits: too big, an access mode no volume has, a class no
	// volume has.
	createClaim(t, c, claim("too-big", "100Gi", rwo))
	note := waitEvent(t, c, "too-big", "FailedBinding")
	if note != "no persistent volumes available for this claim and no storage class is set" {
		t.Errorf("FailedBinding note %q", note)
	}
	createClaim(t, c, claim("rox", "1Gi", []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}))
	waitEvent(t, c, "rox", "FailedBinding")
	createClaim(t, c, claim("no-such-class", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.StorageClassName = ptr.To("gold") }))
	waitEvent(t, c, "no-such-class", "ProvisioningFailed")

	// Naming a volume that does not fit.
	createVolume(t, c, hostPathVolume("classed", "5Gi", rwo, func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = "silver" }))
	createClaim(t, c, claim("wrong-class", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "classed" }))
	if note := waitEvent(t, c, "wrong-class", "VolumeMismatch"); note != `Cannot bind to requested volume "classed": storageClassName does not match` {
		t.Errorf("VolumeMismatch note %q", note)
	}
	createVolume(t, c, hostPathVolume("only-rwo", "5Gi", rwo))
	createClaim(t, c, claim("wrong-mode", "1Gi", []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, func(pvc *corev1.PersistentVolumeClaim) {
		pvc.Spec.VolumeName = "only-rwo"
	}))
	if note := waitEvent(t, c, "wrong-mode", "VolumeMismatch"); !strings.HasSuffix(note, "incompatible accessMode") {
		t.Errorf("VolumeMismatch note %q", note)
	}
	// Naming a volume another claim has.
	createClaim(t, c, claim("taken", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "fits" }))
	waitEvent(t, c, "taken", "FailedBinding")

	// Waiting for a consumer.
	createClass(t, c, "local", storagev1.VolumeBindingWaitForFirstConsumer)
	createVolume(t, c, hostPathVolume("local-1", "1Gi", rwo, func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = "local" }))
	waitVolumePhase(t, c, "local-1", corev1.VolumeAvailable)
	createClaim(t, c, claim("later", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.StorageClassName = ptr.To("local") }))
	if note := waitEvent(t, c, "later", "WaitForFirstConsumer"); note != "waiting for first consumer to be created before binding" {
		t.Errorf("WaitForFirstConsumer note %q", note)
	}

	// Unbound claims keep Pending, their volumes Available.
	for _, name := range []string{"too-big", "rox", "no-such-class", "wrong-class", "wrong-mode", "taken", "later"} {
		if pvc := getClaim(t, c, name); pvc.Status.Phase != corev1.ClaimPending || pvc.Annotations[annBindCompleted] != "" {
			t.Errorf("claim %s: phase %s, annotations %v", name, pvc.Status.Phase, pvc.Annotations)
		}
	}
	for _, name := range []string{"classed", "only-rwo", "local-1", "big", "tiny", "rwx"} {
		if pv := getVolume(t, c, name); pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.ClaimRef != nil {
			t.Errorf("volume %s: phase %s, claimRef %v", name, pv.Status.Phase, pv.Spec.ClaimRef)
		}
	}

	// A volume created after the claim that names it.
	createClaim(t, c, claim("early", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "late" }))
	time.Sleep(200 * time.Millisecond)
	if pvc := getClaim(t, c, "early"); pvc.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim of a missing volume: %s", pvc.Status.Phase)
	}
	createVolume(t, c, hostPathVolume("late", "1Gi", rwo))
	waitBound(t, c, "early", "late")

	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "best", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createClass(t *testing.T, c kubernetes.Interface, name string, mode storagev1.VolumeBindingMode) {
	t.Helper()
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &mode}
	if _, err := c.StorageV1().StorageClasses().Create(context.Background(), class, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating storage class %s: %v", name, err)
	}
}

// TestIntegrationExternalProvisioner: a claim of a class served by an
// external provisioner is marked for it.
func TestIntegrationExternalProvisioner(t *testing.T) {
	c := start(t)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: "rancher.io/local-path"}
	if _, err := c.StorageV1().StorageClasses().Create(context.Background(), class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createClaim(t, c, claim("dynamic", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.StorageClassName = ptr.To("local-path") }))
	note := waitEvent(t, c, "dynamic", "ExternalProvisioning")
	if !strings.Contains(note, "'rancher.io/local-path'") {
		t.Errorf("ExternalProvisioning note %q", note)
	}
	pvc := getClaim(t, c, "dynamic")
	if pvc.Annotations["volume.kubernetes.io/storage-provisioner"] != "rancher.io/local-path" ||
		pvc.Annotations["volume.beta.kubernetes.io/storage-provisioner"] != "rancher.io/local-path" {
		t.Errorf("claim annotations %v", pvc.Annotations)
	}
}

// TestIntegrationReclaim: a volume whose claim is deleted is Released and
// kept (Retain, Recycle) or deleted (Delete); a claimRef to a claim that
// no longer exists releases the volume too; a claim whose volume is
// deleted is Lost.
func TestIntegrationReclaim(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	policies := map[string]corev1.PersistentVolumeReclaimPolicy{
		"retain": corev1.PersistentVolumeReclaimRetain, "delete": corev1.PersistentVolumeReclaimDelete, "recycle": corev1.PersistentVolumeReclaimRecycle,
	}
	for name, policy := range policies {
		createVolume(t, c, hostPathVolume(name, "1Gi", rwo, func(v *corev1.PersistentVolume) { v.Spec.PersistentVolumeReclaimPolicy = policy }))
		createClaim(t, c, claim(name, "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = name }))
		waitBound(t, c, name, name)
		if err := c.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitVolumePhase(t, c, "retain", corev1.VolumeReleased)
	waitVolumePhase(t, c, "recycle", corev1.VolumeReleased)
	if note := waitEvent(t, c, "recycle", "VolumeFailedRecycle"); !strings.Contains(note, "retained") {
		t.Errorf("VolumeFailedRecycle note %q", note)
	}
	controllertest.Eventually(t, "volume delete deleted", func() (bool, string) {
		_, err := c.CoreV1().PersistentVolumes().Get(ctx, "delete", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})

	// A claim of the same name is a different claim: the Released volume
	// stays Released and the new claim does not get it.
	createClaim(t, c, claim("retain", "1Gi", rwo))
	waitEvent(t, c, "retain", "FailedBinding")
	if pv := getVolume(t, c, "retain"); pv.Status.Phase != corev1.VolumeReleased {
		t.Errorf("retained volume %s after a new claim of the name", pv.Status.Phase)
	}
	// It would take the next free volume.
	if err := c.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "retain", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A claimRef with the UID of a claim that is gone.
	createVolume(t, c, hostPathVolume("orphan", "1Gi", rwo, func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "gone", UID: "00000000-0000-0000-0000-000000000001"}
	}))
	waitVolumePhase(t, c, "orphan", corev1.VolumeReleased)

	// The volume of a bound claim is deleted.
	createVolume(t, c, hostPathVolume("vanishing", "1Gi", rwo))
	createClaim(t, c, claim("loses-volume", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "vanishing" }))
	waitBound(t, c, "loses-volume", "vanishing")
	if err := c.CoreV1().PersistentVolumes().Delete(ctx, "vanishing", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if note := waitEvent(t, c, "loses-volume", "ClaimLost"); !strings.Contains(note, "lost its PersistentVolume") {
		t.Errorf("ClaimLost note %q", note)
	}
	if pvc := getClaim(t, c, "loses-volume"); pvc.Status.Phase != corev1.ClaimLost {
		t.Errorf("claim of a deleted volume: %s", pvc.Status.Phase)
	}
}

// TestIntegrationRestart: a new leadership term finds the bindings done
// and writes nothing; a binding half done (volume side only) is finished.
func TestIntegrationRestart(t *testing.T) {
	s, cc := controllertest.Start(t)
	c := s.Client
	ctx := context.Background()
	stop := term(cc)
	createVolume(t, c, hostPathVolume("first", "1Gi", rwo))
	createVolume(t, c, hostPathVolume("second", "2Gi", rwo))
	createClaim(t, c, claim("by-name", "1Gi", rwo, func(pvc *corev1.PersistentVolumeClaim) { pvc.Spec.VolumeName = "first" }))
	createClaim(t, c, claim("chosen", "2Gi", rwo))
	claim1, volume1 := waitBound(t, c, "by-name", "first")
	claim2, volume2 := waitBound(t, c, "chosen", "second")
	stop()

	// While no controller runs: a volume bound on its side only, as a
	// controller stopped between its writes leaves it.
	createVolume(t, c, hostPathVolume("half", "1Gi", rwo))
	half := createClaim(t, c, claim("half", "1Gi", rwo))
	pv := getVolume(t, c, "half")
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: "half", UID: half.UID}
	pv.Annotations = map[string]string{annBoundByController: "yes"}
	if _, err := c.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(term(cc))
	waitBound(t, c, "half", "half")
	// The new term has synced every object (one worker per queue, the
	// half binding was queued with the rest); give it a moment more.
	time.Sleep(500 * time.Millisecond)
	for _, before := range []*corev1.PersistentVolumeClaim{claim1, claim2} {
		if after := getClaim(t, c, before.Name); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("claim %s written again after restart: %+v", before.Name, after)
		}
	}
	for _, before := range []*corev1.PersistentVolume{volume1, volume2} {
		if after := getVolume(t, c, before.Name); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("volume %s written again after restart: %+v", before.Name, after)
		}
	}
}

// TestIntegrationControlPlane: a server running its own controllers binds
// claims (the controller is wired into the control plane).
func TestIntegrationControlPlane(t *testing.T) {
	s := servertest.Start(t, servertest.WithControllers)
	c := s.Client
	createVolume(t, c, hostPathVolume("data", "1Gi", rwo))
	createClaim(t, c, claim("data", "1Gi", rwo))
	waitBound(t, c, "data", "data")
}
