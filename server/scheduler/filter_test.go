package scheduler

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFitsSchedulable(t *testing.T) {
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	tolerateAll := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	}
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want []string
	}{
		{"schedulable node", testNode("n", "1", "1Gi"), testPod("p", "", ""), nil},
		{"cordoned node", testNode("n", "1", "1Gi", cordoned), testPod("p", "", ""), []string{"node(s) were unschedulable"}},
		{"cordoned node, tolerated", testNode("n", "1", "1Gi", cordoned), testPod("p", "", "", tolerateAll), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := fitsSchedulable(tt.pod, infoFor(tt.node))
			checkStatus(t, st, ok, tt.want)
			if !ok && st.resolvable {
				t.Error("a cordoned node is not resolvable by preemption")
			}
		})
	}
}

func checkStatus(t *testing.T, st nodeStatus, ok bool, want []string) {
	t.Helper()
	if ok != (want == nil) {
		t.Fatalf("fits = %v, want %v (reasons %v)", ok, want == nil, st.reasons)
	}
	if !reflect.DeepEqual(st.reasons, want) {
		t.Errorf("reasons %q, want %q", st.reasons, want)
	}
}

func TestFitsTaints(t *testing.T) {
	controlPlane := corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}
	noExecute := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}
	prefer := corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}
	notReady := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }
	noCondition := func(n *corev1.Node) { n.Status.Conditions = nil }
	tolerate := func(key string, effect corev1.TaintEffect) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
		}
	}
	untolerated := []string{"node(s) had untolerated taint(s)"}
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want []string
	}{
		{"no taints", testNode("n", "1", "1Gi"), testPod("p", "", ""), nil},
		{"NoSchedule untolerated", testNode("n", "1", "1Gi", withTaints(controlPlane)), testPod("p", "", ""), untolerated},
		{"NoSchedule tolerated", testNode("n", "1", "1Gi", withTaints(controlPlane)), testPod("p", "", "", tolerate(controlPlane.Key, "")), nil},
		{"NoExecute untolerated", testNode("n", "1", "1Gi", withTaints(noExecute)), testPod("p", "", ""), untolerated},
		{"NoExecute tolerated", testNode("n", "1", "1Gi", withTaints(noExecute)), testPod("p", "", "", tolerate("dedicated", corev1.TaintEffectNoExecute)), nil},
		{"PreferNoSchedule never filters", testNode("n", "1", "1Gi", withTaints(prefer)), testPod("p", "", ""), nil},
		{"not ready counts as tainted", testNode("n", "1", "1Gi", notReady), testPod("p", "", ""), untolerated},
		{"no Ready condition counts as tainted", testNode("n", "1", "1Gi", noCondition), testPod("p", "", ""), untolerated},
		{"not ready, tolerated", testNode("n", "1", "1Gi", notReady), testPod("p", "", "", tolerate(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)), nil},
		{"wildcard toleration", testNode("n", "1", "1Gi", notReady, withTaints(controlPlane)), testPod("p", "", "", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := fitsTaints(tt.pod, infoFor(tt.node))
			checkStatus(t, st, ok, tt.want)
		})
	}
}

func TestEffectiveTaintsLeaveTheNodeAlone(t *testing.T) {
	node := testNode("n", "1", "1Gi", func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionUnknown
		n.Spec.Taints = make([]corev1.Taint, 1, 4) // room to append in place
		n.Spec.Taints[0] = corev1.Taint{Key: "a", Effect: corev1.TaintEffectPreferNoSchedule}
	})
	taints := effectiveTaints(node)
	if len(taints) != 2 || taints[1].Key != corev1.TaintNodeNotReady || len(node.Spec.Taints) != 1 || cap(node.Spec.Taints[:2]) == 0 {
		t.Fatalf("effective taints %v, node taints %v", taints, node.Spec.Taints)
	}
	if node.Spec.Taints[:2][1].Key == corev1.TaintNodeNotReady {
		t.Error("the informer's Node was written to")
	}
	unreachable := testNode("n", "1", "1Gi", func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionUnknown
		n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}}
	})
	if got := effectiveTaints(unreachable); len(got) != 1 {
		t.Errorf("a node already tainted unreachable got %v", got)
	}
}

func TestFitsNodeAffinity(t *testing.T) {
	zoneA := testNode("a", "1", "1Gi", withLabels("zone", "a", "disk", "ssd"))
	selector := func(kv ...string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				p.Spec.NodeSelector[kv[i]] = kv[i+1]
			}
		}
	}
	required := func(key string, op corev1.NodeSelectorOperator, values ...string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}},
			}}}
		}
	}
	byName := func(name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{name}}}}},
			}}}
		}
	}
	miss := []string{"node(s) didn't match Pod's node affinity/selector"}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"no constraints", testPod("p", "", ""), nil},
		{"nodeSelector matches", testPod("p", "", "", selector("zone", "a")), nil},
		{"nodeSelector misses", testPod("p", "", "", selector("zone", "b")), miss},
		{"hostname selector matches", testPod("p", "", "", selector(corev1.LabelHostname, "a")), nil},
		{"hostname selector misses", testPod("p", "", "", selector(corev1.LabelHostname, "b")), miss},
		{"required In matches", testPod("p", "", "", required("disk", corev1.NodeSelectorOpIn, "ssd", "nvme")), nil},
		{"required NotIn misses", testPod("p", "", "", required("disk", corev1.NodeSelectorOpNotIn, "ssd")), miss},
		{"required Exists misses", testPod("p", "", "", required("gpu", corev1.NodeSelectorOpExists)), miss},
		{"matchFields by name", testPod("p", "", "", byName("a")), nil},
		{"matchFields other name", testPod("p", "", "", byName("b")), miss},
		{"selector and affinity both needed", testPod("p", "", "", selector("zone", "a"), required("disk", corev1.NodeSelectorOpIn, "hdd")), miss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := fitsNodeAffinity(newTestCycle(tt.pod), infoFor(zoneA))
			checkStatus(t, st, ok, tt.want)
		})
	}
}

func TestFitsPorts(t *testing.T) {
	port := func(hostPort int32, ip string, proto corev1.Protocol) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: hostPort, HostIP: ip, Protocol: proto})
		}
	}
	busy := []string{"node(s) didn't have free ports for the requested pod ports"}
	existing := testPod("web", "", "", port(8080, "", ""), port(53, "10.0.0.1", corev1.ProtocolUDP))
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"no host ports", testPod("p", "", "", port(0, "", "")), nil},
		{"other port", testPod("p", "", "", port(8081, "", "")), nil},
		{"same port, all addresses", testPod("p", "", "", port(8080, "", corev1.ProtocolTCP)), busy},
		{"same port on one address vs all", testPod("p", "", "", port(8080, "10.0.0.2", "")), busy},
		{"same port, other protocol", testPod("p", "", "", port(8080, "", corev1.ProtocolUDP)), nil},
		{"udp on another address", testPod("p", "", "", port(53, "10.0.0.2", corev1.ProtocolUDP)), nil},
		{"udp on all addresses", testPod("p", "", "", port(53, "0.0.0.0", corev1.ProtocolUDP)), busy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := fitsPorts(newPodInfo(tt.pod), infoFor(testNode("n", "1", "1Gi"), existing))
			checkStatus(t, st, ok, tt.want)
			if !ok && !st.resolvable {
				t.Error("port conflicts are resolvable by preemption upstream")
			}
		})
	}
}

func TestFitsResources(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	withInit := func(cpu string, sidecar bool) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			c := corev1.Container{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}
			if sidecar {
				c.RestartPolicy = &always
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		}
	}
	withOverhead := func(cpu string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		}
	}
	withGPU := func(n string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse(n)
		}
	}
	withStorage := func(q string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse(q)
		}
	}
	// 4 cpu, 8Gi, 2 GPUs, 10Gi disk; 3 pods max; one pod with 1 cpu, 2Gi runs.
	node := testNode("n", "4", "8Gi", withAllocatable("example.com/gpu", "2"), withAllocatable(corev1.ResourceEphemeralStorage, "10Gi"), withAllocatable(corev1.ResourcePods, "3"))
	running := testPod("running", "1", "2Gi")
	finishedElsewhere := testPod("other", "1", "1Gi")
	tests := []struct {
		name       string
		pod        *corev1.Pod
		extra      []*corev1.Pod
		want       []string
		resolvable bool
	}{
		{"fits", testPod("p", "3", "6Gi"), nil, nil, false},
		{"best effort fits", testPod("p", "", ""), nil, nil, false},
		{"cpu short", testPod("p", "3500m", ""), nil, []string{"Insufficient cpu"}, true},
		{"more cpu than the node has", testPod("p", "5", ""), nil, []string{"Insufficient cpu"}, false},
		{"cpu and memory short", testPod("p", "3500m", "7Gi"), nil, []string{"Insufficient cpu", "Insufficient memory"}, true},
		{"init container is the peak", testPod("p", "1", "", withInit("3500m", false)), nil, []string{"Insufficient cpu"}, true},
		{"init container below containers", testPod("p", "2", "", withInit("1", false)), nil, nil, false},
		{"sidecar adds up", testPod("p", "2", "", withInit("1500m", true)), nil, []string{"Insufficient cpu"}, true},
		{"overhead counts", testPod("p", "2500m", "", withOverhead("600m")), nil, []string{"Insufficient cpu"}, true},
		{"extended resource fits", testPod("p", "", "", withGPU("2")), nil, nil, false},
		{"extended resource short", testPod("p", "", "", withGPU("3")), nil, []string{"Insufficient example.com/gpu"}, false},
		{"ephemeral storage short", testPod("p", "", "", withStorage("11Gi")), nil, []string{"Insufficient ephemeral-storage"}, false},
		{"too many pods", testPod("p", "", ""), []*corev1.Pod{finishedElsewhere, testPod("x", "", "")}, []string{"Too many pods"}, true},
		{"too many pods and cpu", testPod("p", "2500m", ""), []*corev1.Pod{finishedElsewhere, testPod("x", "", "")}, []string{"Too many pods", "Insufficient cpu"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := infoFor(node, append([]*corev1.Pod{running}, tt.extra...)...)
			st, ok := fitsResources(newPodInfo(tt.pod), n)
			checkStatus(t, st, ok, tt.want)
			if !ok && st.resolvable != tt.resolvable {
				t.Errorf("resolvable = %v, want %v", st.resolvable, tt.resolvable)
			}
		})
	}
}

func TestNodeInfoAccounting(t *testing.T) {
	n := infoFor(testNode("n", "4", "8Gi"))
	a := newPodInfo(testPod("a", "1", "1Gi", func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
	}))
	b := newPodInfo(testPod("b", "", ""))
	n.addPod(a)
	n.addPod(b)
	if n.requested.milliCPU != 1000 || n.nonZeroCPU != 1100 || n.nonZeroMem != 1<<30+defaultMemoryRequest || len(n.usedPorts) != 1 {
		t.Fatalf("after adds: requested %+v nonZero %d/%d ports %v", n.requested, n.nonZeroCPU, n.nonZeroMem, n.usedPorts)
	}
	if n.removePod(a.pod.UID) != a || n.requested.milliCPU != 0 || n.nonZeroCPU != defaultMilliCPURequest || len(n.usedPorts) != 0 || len(n.pods) != 1 {
		t.Fatalf("after remove: requested %+v ports %v pods %d", n.requested, n.usedPorts, len(n.pods))
	}
	if n.removePod("unknown") != nil {
		t.Error("removed an unknown pod")
	}
}
