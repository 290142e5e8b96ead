package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// podInfo is what the scheduler derives from a pod once, so that filters
// and scores looking at it on many nodes do not parse it again.
type podInfo struct {
	pod        *corev1.Pod // the informer's object: never modified
	requests   resources
	nonZeroCPU int64 // millicores, for scoring
	nonZeroMem int64 // bytes, for scoring
	hostPorts  []hostPort

	requiredAffinity  []affinityTerm
	requiredAnti      []affinityTerm
	preferredAffinity []affinityTerm
	preferredAnti     []affinityTerm

	controllerUID types.UID // of the owner that manages the pod, if any
}

func newPodInfo(pod *corev1.Pod) *podInfo {
	pi := &podInfo{pod: pod, requests: podRequests(pod), hostPorts: podHostPorts(pod)}
	pi.nonZeroCPU, pi.nonZeroMem = podNonZeroRequests(pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		pi.controllerUID = ref.UID
	}
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			pi.requiredAffinity = requiredTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.preferredAffinity = preferredTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			pi.requiredAnti = requiredTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.preferredAnti = preferredTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	return pi
}

// hasAffinity tells whether any inter-pod term of the pod may matter to
// another pod's placement.
func (pi *podInfo) hasAffinity() bool {
	return len(pi.requiredAffinity)+len(pi.requiredAnti)+len(pi.preferredAffinity)+len(pi.preferredAnti) > 0
}

// affinityTerm is a parsed pod (anti-)affinity term: which pods it is
// about (namespaces and selector) and over which topology.
type affinityTerm struct {
	selector    labels.Selector
	namespaces  sets.Set[string]
	nsSelector  labels.Selector // nil when the term has none
	topologyKey string
	weight      int32 // for preferred terms
}

// matches tells whether pod is one of the pods the term is about; nsLabels
// are the labels of pod's namespace (only read with a namespace selector).
func (t *affinityTerm) matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if !t.namespaces.Has(pod.Namespace) && (t.nsSelector == nil || !t.nsSelector.Matches(nsLabels)) {
		return false
	}
	return t.selector.Matches(labels.Set(pod.Labels))
}

func newAffinityTerm(owner *corev1.Pod, term *corev1.PodAffinityTerm, weight int32) (affinityTerm, bool) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return affinityTerm{}, false // invalid terms never reach a stored pod
	}
	t := affinityTerm{selector: sel, namespaces: sets.New(term.Namespaces...), topologyKey: term.TopologyKey, weight: weight}
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		t.namespaces.Insert(owner.Namespace) // a term without namespaces means the pod's own
	}
	if term.NamespaceSelector != nil {
		if t.nsSelector, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector); err != nil {
			return affinityTerm{}, false
		}
	}
	return t, true
}

func requiredTerms(owner *corev1.Pod, terms []corev1.PodAffinityTerm) []affinityTerm {
	var out []affinityTerm
	for i := range terms {
		if t, ok := newAffinityTerm(owner, &terms[i], 0); ok {
			out = append(out, t)
		}
	}
	return out
}

func preferredTerms(owner *corev1.Pod, terms []corev1.WeightedPodAffinityTerm) []affinityTerm {
	var out []affinityTerm
	for i := range terms {
		if t, ok := newAffinityTerm(owner, &terms[i].PodAffinityTerm, terms[i].Weight); ok {
			out = append(out, t)
		}
	}
	return out
}

// hostPort is one port a pod takes on its node's address.
type hostPort struct {
	ip       string // "0.0.0.0" means every address
	protocol corev1.Protocol
	port     int32
}

// podHostPorts lists the host ports of the containers that run for the
// pod's whole life (sidecar init containers included).
func podHostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	add := func(ports []corev1.ContainerPort) {
		for _, p := range ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
			if hp.ip == "" {
				hp.ip = "0.0.0.0"
			}
			if hp.protocol == "" {
				hp.protocol = corev1.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c.Ports)
		}
	}
	for i := range pod.Spec.Containers {
		add(pod.Spec.Containers[i].Ports)
	}
	return out
}

// conflicts tells whether two host ports cannot both be bound.
func (p hostPort) conflicts(o hostPort) bool {
	if p.port != o.port || p.protocol != o.protocol {
		return false
	}
	return p.ip == o.ip || p.ip == "0.0.0.0" || o.ip == "0.0.0.0"
}

func podPriority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}
