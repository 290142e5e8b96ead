package kubelet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
)

// staticPodPeriod is how often the manifest directory is read again and
// the mirror pods reconciled.
const staticPodPeriod = 5 * time.Second

// staticPods runs the pods of the manifest directory and publishes a
// mirror pod in the API for each, so users see them with kubectl.
type staticPods struct {
	k    *Kubelet
	kick chan struct{}

	mu        sync.Mutex
	pods      map[types.UID]*v1.Pod
	badFiles  map[string]string // path -> last parse error reported
	namesByNN map[string]types.UID
}

func newStaticPods(k *Kubelet) *staticPods {
	return &staticPods{
		k:         k,
		kick:      make(chan struct{}, 1),
		pods:      map[types.UID]*v1.Pod{},
		badFiles:  map[string]string{},
		namesByNN: map[string]types.UID{},
	}
}

func (s *staticPods) loop(ctx context.Context) {
	t := time.NewTicker(staticPodPeriod)
	defer t.Stop()
	for {
		s.reconcileMirrors(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.readManifests()
		case <-s.kick:
		}
	}
}

// readManifests reads the directory and hands new, changed and removed
// static pods to the kubelet. A changed manifest is a new pod (new UID).
func (s *staticPods) readManifests() {
	found := map[types.UID]*v1.Pod{}
	entries, err := os.ReadDir(s.k.cfg.StaticPodsDir)
	if err != nil && !os.IsNotExist(err) {
		s.k.log.Warn("reading static pod manifests failed", "dir", s.k.cfg.StaticPodsDir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		switch filepath.Ext(name) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		path := filepath.Join(s.k.cfg.StaticPodsDir, name)
		data, err := os.ReadFile(path)
		if err == nil {
			var pod *v1.Pod
			if pod, err = parseStaticPod(data, path, s.k.cfg.NodeName); err == nil {
				found[pod.UID] = pod
				s.mu.Lock()
				delete(s.badFiles, path)
				s.mu.Unlock()
				continue
			}
		}
		s.mu.Lock()
		if s.badFiles[path] != err.Error() {
			s.badFiles[path] = err.Error()
			s.k.log.Warn("ignoring static pod manifest", "file", path, "err", err)
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	var added []*v1.Pod
	var removed []types.UID
	for uid, pod := range found {
		if _, ok := s.pods[uid]; !ok {
			added = append(added, pod)
		}
	}
	for uid := range s.pods {
		if _, ok := found[uid]; !ok {
			removed = append(removed, uid)
		}
	}
	s.pods = found
	s.namesByNN = map[string]types.UID{}
	for uid, pod := range found {
		s.namesByNN[pod.Namespace+"/"+pod.Name] = uid
	}
	s.mu.Unlock()

	for _, uid := range removed {
		s.k.podRemoved(uid)
	}
	for _, pod := range added {
		s.k.log.Info("static pod found", "pod", podFullName(pod))
		s.k.podUpdated(pod)
	}
	if len(added)+len(removed) > 0 {
		s.poke()
	}
}

func (s *staticPods) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// mirrorChanged reacts to a mirror pod event: the static pod's worker
// writes status to it, and the reconciler recreates it if it went away.
func (s *staticPods) mirrorChanged(mirror *v1.Pod) {
	s.mu.Lock()
	uid, ok := s.namesByNN[mirror.Namespace+"/"+mirror.Name]
	s.mu.Unlock()
	if ok {
		s.k.wakePod(uid)
	}
	s.poke()
}

// reconcileMirrors makes the API hold exactly one current mirror pod per
// static pod.
func (s *staticPods) reconcileMirrors(ctx context.Context) {
	s.mu.Lock()
	pods := make([]*v1.Pod, 0, len(s.pods))
	for _, p := range s.pods {
		pods = append(pods, p)
	}
	s.mu.Unlock()
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })

	wanted := map[string]bool{}
	for _, pod := range pods {
		wanted[pod.Namespace+"/"+pod.Name] = true
		mirror := s.k.sources.apiPod(pod.Namespace, pod.Name)
		switch {
		case mirror == nil:
			s.createMirror(ctx, pod)
		case !isMirrorPod(mirror):
			s.k.log.Warn("a regular pod has the name of a static pod; no mirror pod published", "pod", podFullName(pod))
		case mirror.Annotations[annotationConfigMirror] != string(pod.UID) || mirror.DeletionTimestamp != nil:
			s.deleteAPIPod(ctx, mirror)
		}
	}
	for _, obj := range s.k.sources.pods.GetStore().List() {
		p := obj.(*v1.Pod)
		if isMirrorPod(p) && !wanted[p.Namespace+"/"+p.Name] {
			s.deleteAPIPod(ctx, p)
		}
	}
}

// createMirror publishes the static pod in the API, owned by the Node so
// it goes away with it.
func (s *staticPods) createMirror(ctx context.Context, pod *v1.Pod) {
	node := s.k.sources.nodeObject()
	if node == nil {
		return // not registered yet; the next round tries again
	}
	mirror := pod.DeepCopy()
	mirror.UID = ""
	mirror.ResourceVersion = ""
	mirror.Status = v1.PodStatus{}
	mirror.Annotations[annotationConfigMirror] = string(pod.UID)
	mirror.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1",
		Kind:       "Node",
		Name:       node.Name,
		UID:        node.UID,
	}}
	_, err := s.k.cfg.Client.CoreV1().Pods(pod.Namespace).Create(ctx, mirror, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		s.k.log.Warn("creating mirror pod failed", "pod", podFullName(pod), "err", err)
	}
}

// deleteMirror removes the mirror pod of a static pod that is gone.
func (s *staticPods) deleteMirror(ctx context.Context, pod *v1.Pod) {
	if m := s.k.sources.apiPod(pod.Namespace, pod.Name); m != nil && isMirrorPod(m) {
		s.deleteAPIPod(ctx, m)
	}
}

func (s *staticPods) deleteAPIPod(ctx context.Context, p *v1.Pod) {
	zero := int64(0)
	uid := p.UID
	err := s.k.cfg.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !isAPINotFoundOrConflict(err) {
		s.k.log.Warn("deleting mirror pod failed", "pod", p.Namespace+"/"+p.Name, "err", err)
	}
}

// parseStaticPod decodes a manifest into a pod of this node: defaulted as
// the API server would, named <name>-<node>, with a UID that changes
// exactly when the manifest does.
func parseStaticPod(data []byte, path, nodeName string) (*v1.Pod, error) {
	pod := &v1.Pod{}
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(pod); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if pod.Kind != "Pod" || (pod.APIVersion != "v1" && pod.APIVersion != "") {
		return nil, fmt.Errorf("want a v1 Pod, got %s %s", pod.APIVersion, pod.Kind)
	}
	if pod.Name == "" {
		return nil, fmt.Errorf("metadata.name is required")
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("spec.containers must not be empty")
	}
	seen := map[string]bool{}
	for _, c := range allContainers(pod) {
		switch {
		case c.Name == "":
			return nil, fmt.Errorf("a container has no name")
		case c.Image == "":
			return nil, fmt.Errorf("container %q has no image", c.Name)
		case seen[c.Name]:
			return nil, fmt.Errorf("container name %q is used twice", c.Name)
		}
		seen[c.Name] = true
	}
	corev1defaults.SetObjectDefaults_Pod(pod)
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	sum := sha256.Sum256(append([]byte(nodeName+"\x00"+path+"\x00"), data...))
	pod.UID = types.UID(hex.EncodeToString(sum[:16]))
	pod.Name = pod.Name + "-" + nodeName
	pod.Spec.NodeName = nodeName
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[annotationConfigHash] = string(pod.UID)
	pod.Annotations[annotationConfigSource] = "file"
	// Static pods stay through every NoExecute taint, as upstream.
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute})
	pod.Status = v1.PodStatus{}
	return pod, nil
}
