package scheduler

// rejectors is a set of the filters that turned a pod away; a parked pod
// is retried when the cluster changes in a way one of them cares about.
type rejectors uint16

const (
	byNodeUnschedulable rejectors = 1 << iota
	byTaints
	byNodeAffinity
	byPorts
	byResources
	bySpread
	byInterPod
	byNoNodes
	numRejectors = iota
)

const anyRejector rejectors = 1<<numRejectors - 1

func (r rejectors) each(f func(i int)) {
	for i := 0; i < numRejectors; i++ {
		if r&(1<<i) != 0 {
			f(i)
		}
	}
}

// nodeStatus is why a node cannot take the pod: upstream's failure
// reasons, and whether evicting lower-priority pods could change that
// (upstream's Unschedulable, as opposed to UnschedulableAndUnresolvable).
type nodeStatus struct {
	reasons    []string
	resolvable bool
	by         rejectors
}

// Upstream's failure messages, word for word: users and tools read them
// in events and pod conditions.
const (
	reasonNodeUnschedulable     = "node(s) were unschedulable"
	reasonUntoleratedTaint      = "node(s) had untolerated taint(s)"
	reasonNodeAffinity          = "node(s) didn't match Pod's node affinity/selector"
	reasonHostPorts             = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods           = "Too many pods"
	reasonAffinity              = "node(s) didn't match pod affinity rules"
	reasonAntiAffinity          = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity  = "node(s) didn't satisfy existing pods anti-affinity rules"
	reasonSpread                = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingLabel    = reasonSpread + " (missing required label)"
	reasonNoPreemptionVictims   = "No preemption victims found for incoming pod"
	reasonPreemptionNotHelpful  = "Preemption is not helpful for scheduling"
	messageNoNodes              = "no nodes available to schedule pods"
	messagePreemptionPolicyNone = "preemption: not eligible due to preemptionPolicy=Never."
)

// Failure statuses that never vary, shared to avoid an allocation per
// rejected node.
var (
	statusNodeUnschedulable    = nodeStatus{reasons: []string{reasonNodeUnschedulable}, by: byNodeUnschedulable}
	statusUntoleratedTaint     = nodeStatus{reasons: []string{reasonUntoleratedTaint}, by: byTaints}
	statusNodeAffinity         = nodeStatus{reasons: []string{reasonNodeAffinity}, by: byNodeAffinity}
	statusHostPorts            = nodeStatus{reasons: []string{reasonHostPorts}, resolvable: true, by: byPorts}
	statusAffinity             = nodeStatus{reasons: []string{reasonAffinity}, by: byInterPod}
	statusAntiAffinity         = nodeStatus{reasons: []string{reasonAntiAffinity}, resolvable: true, by: byInterPod}
	statusExistingAntiAffinity = nodeStatus{reasons: []string{reasonExistingAntiAffinity}, resolvable: true, by: byInterPod}
	statusSpread               = nodeStatus{reasons: []string{reasonSpread}, resolvable: true, by: bySpread}
	statusSpreadMissingLabel   = nodeStatus{reasons: []string{reasonSpreadMissingLabel}, by: bySpread}
)
