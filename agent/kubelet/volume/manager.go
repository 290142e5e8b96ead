// Package volume sets up a pod's volumes on the node and turns its
// containers' volumeMounts into CRI mounts: emptyDir (disk or tmpfs),
// hostPath with type checks, configMap, secret, downwardAPI and projected
// volumes (service account tokens included) written atomically, and
// persistentVolumeClaims bound to hostPath or local volumes. subPath mounts
// are resolved without following symlinks out of their volume.
package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Plugin directory names under <pod>/volumes, as the kubelet names them.
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"
	pluginLocal       = "kubernetes.io~local-volume"

	volumesDirName    = "volumes"
	subPathsDirName   = "volume-subpaths"
	emptyDirMode      = 0o777 // any container user may write
	podVolumesDirMode = 0o750
)

// Manager owns the volumes of the pods on this node.
type Manager struct {
	podsDir string
	src     Sources
	tokens  *tokenCache

	mu              sync.Mutex
	nodeAllocatable v1.ResourceList
	pods            map[types.UID]map[string]mountedVolume
	podLocks        map[types.UID]*podLock
}

// podLock serializes work on one pod; it is dropped when nobody holds it.
type podLock struct {
	mu    sync.Mutex
	users int
}

// mountedVolume is a set-up volume of a pod.
type mountedVolume struct {
	hostPath string
	// readOnly volumes are mounted read-only whatever the volumeMount says.
	readOnly bool
	// image volumes are mounted by the runtime from an image.
	image *v1.ImageVolumeSource
}

// NewManager keeps pod volumes under podsDir/<pod-uid>/volumes.
func NewManager(podsDir string, src Sources) *Manager {
	return &Manager{
		podsDir:  podsDir,
		src:      src,
		tokens:   newTokenCache(time.Now),
		pods:     make(map[types.UID]map[string]mountedVolume),
		podLocks: make(map[types.UID]*podLock),
	}
}

// SetNodeAllocatable sets what downward API resource values of containers
// without limits report.
func (m *Manager) SetNodeAllocatable(rl v1.ResourceList) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodeAllocatable = rl.DeepCopy()
}

func (m *Manager) allocatable() v1.ResourceList {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nodeAllocatable
}

// lockPod locks one pod's volumes and returns the unlock function.
func (m *Manager) lockPod(uid types.UID) func() {
	m.mu.Lock()
	l, ok := m.podLocks[uid]
	if !ok {
		l = &podLock{}
		m.podLocks[uid] = l
	}
	l.users++
	m.mu.Unlock()

	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		if l.users--; l.users == 0 {
			delete(m.podLocks, uid)
		}
		m.mu.Unlock()
	}
}

func (m *Manager) podDir(uid types.UID) string {
	return filepath.Join(m.podsDir, string(uid))
}

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podDir(uid), volumesDirName, plugin, name)
}

// Setup makes every volume of pod ready and refreshes the contents of
// configMap, secret, downwardAPI and projected volumes (renewing service
// account tokens when due). Call it before creating containers and again
// on every pod sync. Each failing volume adds an error in the words of the
// kubelet's FailedMount events; the others are still set up.
func (m *Manager) Setup(ctx context.Context, pod *v1.Pod) error {
	defer m.lockPod(pod.UID)()

	if err := os.MkdirAll(filepath.Join(m.podDir(pod.UID), volumesDirName), podVolumesDirMode); err != nil {
		return fmt.Errorf("create volumes directory of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	m.mu.Lock()
	previous := m.pods[pod.UID]
	m.mu.Unlock()

	ready := make(map[string]mountedVolume, len(pod.Spec.Volumes))
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		mv, err := m.setupVolume(ctx, pod, vol)
		if err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err))
			// A refresh that failed leaves the volume as it was.
			if old, ok := previous[vol.Name]; ok {
				ready[vol.Name] = old
			}
			continue
		}
		ready[vol.Name] = mv
	}
	m.mu.Lock()
	m.pods[pod.UID] = ready
	m.mu.Unlock()
	return errors.Join(errs...)
}

// VolumePath is the host directory of a set-up volume (for env files of
// fileKeyRef); false for unknown volumes and image volumes.
func (m *Manager) VolumePath(podUID types.UID, volumeName string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mv, ok := m.pods[podUID][volumeName]
	if !ok || mv.image != nil {
		return "", false
	}
	return mv.hostPath, true
}

func (m *Manager) setupVolume(ctx context.Context, pod *v1.Pod, vol *v1.Volume) (mountedVolume, error) {
	fsGroup := podFsGroup(pod)
	switch {
	case vol.EmptyDir != nil:
		return m.setupEmptyDir(pod, vol.Name, vol.EmptyDir, fsGroup)
	case vol.HostPath != nil:
		if err := checkHostPathType(vol.HostPath.Path, vol.HostPath.Type); err != nil {
			return mountedVolume{}, err
		}
		return mountedVolume{hostPath: vol.HostPath.Path}, nil
	case vol.ConfigMap != nil:
		src := vol.ConfigMap
		optional := src.Optional != nil && *src.Optional
		cm, err := m.src.ConfigMap(ctx, pod.Namespace, src.Name)
		missing, err := optionalObject(err, optional)
		if err != nil {
			return mountedVolume{}, err
		}
		if missing {
			cm = &v1.ConfigMap{}
		}
		files := make(map[string]projectedFile)
		if err := keyFiles(files, configMapData(cm), src.Items, src.DefaultMode, optional); err != nil {
			return mountedVolume{}, err
		}
		return m.setupFiles(pod, pluginConfigMap, vol.Name, false, files, fsGroup)
	case vol.Secret != nil:
		src := vol.Secret
		optional := src.Optional != nil && *src.Optional
		secret, err := m.src.Secret(ctx, pod.Namespace, src.SecretName)
		missing, err := optionalObject(err, optional)
		if err != nil {
			return mountedVolume{}, err
		}
		if missing {
			secret = &v1.Secret{}
		}
		files := make(map[string]projectedFile)
		if err := keyFiles(files, secretData(secret), src.Items, src.DefaultMode, optional); err != nil {
			return mountedVolume{}, err
		}
		return m.setupFiles(pod, pluginSecret, vol.Name, true, files, fsGroup)
	case vol.DownwardAPI != nil:
		files := make(map[string]projectedFile)
		if err := downwardFiles(files, pod, vol.DownwardAPI.Items, vol.DownwardAPI.DefaultMode, m.allocatable()); err != nil {
			return mountedVolume{}, err
		}
		return m.setupFiles(pod, pluginDownwardAPI, vol.Name, false, files, fsGroup)
	case vol.Projected != nil:
		files, err := m.projectedFiles(ctx, pod, vol.Projected)
		if err != nil {
			return mountedVolume{}, err
		}
		return m.setupFiles(pod, pluginProjected, vol.Name, true, files, fsGroup)
	case vol.PersistentVolumeClaim != nil:
		return m.setupClaim(ctx, pod, vol.PersistentVolumeClaim.ClaimName, vol.PersistentVolumeClaim.ReadOnly, false)
	case vol.Ephemeral != nil:
		// The ephemeral volume controller names the claim <pod>-<volume>.
		return m.setupClaim(ctx, pod, pod.Name+"-"+vol.Name, false, true)
	case vol.Image != nil:
		return mountedVolume{readOnly: true, image: vol.Image}, nil
	}
	return mountedVolume{}, errors.New("volume type is not supported by this kubelet (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim and ephemeral of hostPath or local volumes, image)")
}

// ensureDir creates dir with mode if missing and reports whether it did.
func ensureDir(dir string, mode os.FileMode) (bool, error) {
	if _, err := os.Lstat(dir); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return false, fmt.Errorf("create %s: %w", dir, err)
	}
	// MkdirAll's mode is filtered by the umask.
	if err := os.Chmod(dir, mode); err != nil {
		return false, fmt.Errorf("chmod %s: %w", dir, err)
	}
	return true, nil
}

func (m *Manager) setupEmptyDir(pod *v1.Pod, name string, src *v1.EmptyDirVolumeSource, fsGroup *int64) (mountedVolume, error) {
	dir := m.volumeDir(pod.UID, pluginEmptyDir, name)
	created, err := ensureDir(dir, emptyDirMode)
	if err != nil {
		return mountedVolume{}, err
	}
	switch src.Medium {
	case v1.StorageMediumDefault:
	case v1.StorageMediumMemory:
		mounted, err := mountTmpfs(dir, src.SizeLimit)
		if err != nil {
			return mountedVolume{}, err
		}
		created = created || mounted
	default:
		return mountedVolume{}, fmt.Errorf("emptyDir medium %q is not supported by this kubelet", src.Medium)
	}
	// Group ownership is given once, when the volume is new; the pod's
	// own later changes are its business.
	if created && fsGroup != nil {
		if err := applyDirOwnership(dir, ownership{gid: int(*fsGroup)}); err != nil {
			return mountedVolume{}, err
		}
	}
	return mountedVolume{hostPath: dir}, nil
}

// setupFiles writes a kubelet-filled volume; onTmpfs keeps secrets and
// tokens off the disk.
func (m *Manager) setupFiles(pod *v1.Pod, plugin, name string, onTmpfs bool, files map[string]projectedFile, fsGroup *int64) (mountedVolume, error) {
	dir := m.volumeDir(pod.UID, plugin, name)
	created, err := ensureDir(dir, emptyDirMode)
	if err != nil {
		return mountedVolume{}, err
	}
	if onTmpfs {
		mounted, err := mountTmpfs(dir, nil)
		if err != nil {
			return mountedVolume{}, err
		}
		created = created || mounted
	}
	own := ownership{gid: -1, readOnly: true}
	if fsGroup != nil {
		own.gid = int(*fsGroup)
	}
	if created {
		if err := applyDirOwnership(dir, own); err != nil {
			return mountedVolume{}, err
		}
	}
	if _, err := writeAtomic(dir, files, own); err != nil {
		return mountedVolume{}, err
	}
	return mountedVolume{hostPath: dir, readOnly: true}, nil
}
