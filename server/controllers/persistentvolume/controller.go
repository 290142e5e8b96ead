// Package persistentvolume binds PersistentVolumeClaims to statically
// created PersistentVolumes and reclaims the volumes their claims let go,
// as kube-controller-manager's persistent volume binder does. Kite has no
// in-tree provisioners: a claim of a storage class is left to an external
// provisioner (marked for it with the storage-provisioner annotation), and
// the Delete reclaim policy removes the PersistentVolume object only,
// never the data behind it.
package persistentvolume

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"kite/server/controllers"
)

const (
	controllerName = "persistentvolume-controller"
	// resyncPeriod is how often every claim and volume is looked at
	// again, kube-controller-manager's --pvclaimbinder-sync-period: it
	// retries what no watch event will (a claim waiting for a volume
	// that another claim gives up, a Delete that failed).
	resyncPeriod = 15 * time.Second
	// conflictRetry is how soon a sync that lost a write race runs again;
	// the informer usually delivers the newer object before that.
	conflictRetry = 100 * time.Millisecond
)

// Controller is the persistent volume binder. It works one claim and one
// volume at a time (one worker per queue, as upstream), so two claims never
// race each other for the same volume; what races remains with other
// writers is settled by resourceVersion conflicts.
type Controller struct {
	client   kubernetes.Interface
	volumes  corelisters.PersistentVolumeLister
	claims   corelisters.PersistentVolumeClaimLister
	classes  storagelisters.StorageClassLister
	pods     corelisters.PodLister
	recorder events.EventRecorder
	log      *slog.Logger

	volumesInf, claimsInf, classesInf, podsInf cache.SharedIndexInformer

	volumeQueue workqueue.TypedRateLimitingInterface[string] // volume names
	claimQueue  workqueue.TypedRateLimitingInterface[string] // namespace/name

	// writtenVolumes and writtenClaims are the versions this controller
	// wrote last, so that it never acts on an older cached copy.
	writtenVolumes, writtenClaims *versions
}

// New returns the controller, using cc's shared informers.
func New(cc *controllers.Context) *Controller {
	core := cc.Informers.Core().V1()
	classes := cc.Informers.Storage().V1().StorageClasses()
	return &Controller{
		client:     cc.Client,
		volumes:    core.PersistentVolumes().Lister(),
		claims:     core.PersistentVolumeClaims().Lister(),
		classes:    classes.Lister(),
		pods:       core.Pods().Lister(),
		recorder:   cc.Recorder(controllerName),
		log:        slog.Default().With("component", controllerName),
		volumesInf: core.PersistentVolumes().Informer(),
		claimsInf:  core.PersistentVolumeClaims().Informer(),
		classesInf: classes.Informer(),
		podsInf:    core.Pods().Informer(),
		volumeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "volumes"}),
		claimQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "claims"}),
		writtenVolumes: newVersions(),
		writtenClaims:  newVersions(),
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	synced := []cache.InformerSynced{
		controllers.Handle(ctx, c.volumesInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.volumeChanged,
			UpdateFunc: func(_, obj any) { c.volumeChanged(obj) },
			DeleteFunc: c.volumeDeleted,
		}),
		controllers.Handle(ctx, c.claimsInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { controllers.Enqueue(c.claimQueue, obj) },
			UpdateFunc: func(_, obj any) { controllers.Enqueue(c.claimQueue, obj) },
			DeleteFunc: c.claimDeleted,
		}),
		controllers.Handle(ctx, c.classesInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    c.classChanged,
			UpdateFunc: func(_, obj any) { c.classChanged(obj) },
		}),
		c.podsInf.HasSynced,
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	go c.resync(ctx)
	go controllers.RunWorkers(ctx, c.volumeQueue, 1, c.syncVolumeKey, c.log)
	controllers.RunWorkers(ctx, c.claimQueue, 1, c.syncClaimKey, c.log)
}

// resync queues every claim and volume each resyncPeriod until ctx ends.
func (c *Controller) resync(ctx context.Context) {
	tick := time.NewTicker(resyncPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		claims, _ := c.claims.List(labels.Everything())
		for _, claim := range claims {
			c.claimQueue.Add(claimKey(claim))
		}
		volumes, _ := c.volumes.List(labels.Everything())
		for _, volume := range volumes {
			c.volumeQueue.Add(volume.Name)
		}
	}
}

// volumeChanged queues the volume and, when it is free for binding, the
// claims waiting for one.
func (c *Controller) volumeChanged(obj any) {
	volume, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeQueue.Add(volume.Name)
	if volume.Status.Phase == corev1.VolumeAvailable {
		c.enqueueUnboundClaims(func(*corev1.PersistentVolumeClaim) bool { return true })
	}
}

// volumeDeleted queues the deleted volume's claim, which has lost it.
func (c *Controller) volumeDeleted(obj any) {
	volume, ok := controllers.FromTombstone[*corev1.PersistentVolume](obj)
	if !ok {
		return
	}
	c.writtenVolumes.forget(volume.Name)
	if ref := volume.Spec.ClaimRef; ref != nil {
		c.claimQueue.Add(ref.Namespace + "/" + ref.Name)
	}
}

// claimDeleted queues the volumes that were bound to the claim, to be
// released.
func (c *Controller) claimDeleted(obj any) {
	claim, ok := controllers.FromTombstone[*corev1.PersistentVolumeClaim](obj)
	if !ok {
		return
	}
	c.writtenClaims.forget(claimKey(claim))
	if claim.Spec.VolumeName != "" {
		c.volumeQueue.Add(claim.Spec.VolumeName)
	}
	// The controller may have claimed a volume for it without getting
	// to write the claim.
	volumes, _ := c.volumes.List(labels.Everything())
	for _, volume := range volumes {
		if ref := volume.Spec.ClaimRef; ref != nil && ref.UID == claim.UID {
			c.volumeQueue.Add(volume.Name)
		}
	}
}

// classChanged queues the unbound claims of the class, whose binding mode
// or provisioner may now be known.
func (c *Controller) classChanged(obj any) {
	class, ok := obj.(*storagev1.StorageClass)
	if !ok {
		return
	}
	c.enqueueUnboundClaims(func(claim *corev1.PersistentVolumeClaim) bool {
		return storagehelpers.GetPersistentVolumeClaimClass(claim) == class.Name
	})
}

func (c *Controller) enqueueUnboundClaims(match func(*corev1.PersistentVolumeClaim) bool) {
	claims, _ := c.claims.List(labels.Everything())
	for _, claim := range claims {
		if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) && match(claim) {
			c.claimQueue.Add(claimKey(claim))
		}
	}
}

func (c *Controller) syncClaimKey(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // claimDeleted has queued its volumes
	}
	if err != nil {
		return err
	}
	if c.writtenClaims.stale(key, claim.ResourceVersion) {
		return nil // the informer's update will queue the key again
	}
	return c.retryConflict("claim", key, c.syncClaim(ctx, claim))
}

func (c *Controller) syncVolumeKey(ctx context.Context, name string) error {
	volume, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil // volumeDeleted has queued its claim
	}
	if err != nil {
		return err
	}
	if c.writtenVolumes.stale(name, volume.ResourceVersion) {
		return nil
	}
	return c.retryConflict("volume", name, c.syncVolume(ctx, volume))
}

// retryConflict turns a lost write race, a normal event for a controller
// of two kinds of objects that others write too, into a quiet retry.
func (c *Controller) retryConflict(kind, key string, err error) error {
	if apierrors.IsConflict(err) {
		c.log.Debug("write conflict; retrying", kind, key, "err", err)
		return controllers.RetryAfter(conflictRetry)
	}
	return err
}

func claimKey(claim *corev1.PersistentVolumeClaim) string {
	return claim.Namespace + "/" + claim.Name
}
