package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// failureVerdict is what spec.podFailurePolicy says about one failed pod.
type failureVerdict struct {
	// action of the first matching rule; empty if none matched.
	action batchv1.PodFailurePolicyAction
	// counts is false when the failure is ignored (it does not count
	// towards backoffLimit or backoffLimitPerIndex).
	counts bool
	// failJobMessage is set when the matching rule fails the whole Job.
	failJobMessage string
}

// judgeFailure matches a failed pod against the Job's pod failure policy:
// the first rule whose exit codes or pod conditions match decides.
func judgeFailure(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) failureVerdict {
	if policy == nil {
		return failureVerdict{counts: true}
	}
	for i, rule := range policy.Rules {
		var failJob string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchingExitCode(pod, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			failJob = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case rule.OnPodConditions != nil:
			cond := matchingCondition(pod, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			failJob = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
				pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		switch rule.Action {
		case batchv1.PodFailurePolicyActionIgnore:
			return failureVerdict{action: rule.Action}
		case batchv1.PodFailurePolicyActionFailJob:
			return failureVerdict{action: rule.Action, counts: true, failJobMessage: failJob}
		case batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionCount:
			return failureVerdict{action: rule.Action, counts: true}
		}
	}
	return failureVerdict{counts: true}
}

// matchingExitCode returns the first terminated container (regular ones
// first, then init containers) whose non-zero exit code matches req.
func matchingExitCode(pod *corev1.Pod, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			cs := &list[i]
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 || (req.ContainerName != nil && *req.ContainerName != cs.Name) {
				continue
			}
			in := slices.Contains(req.Values, t.ExitCode)
			if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && in) || (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn && !in) {
				return cs
			}
		}
	}
	return nil
}

func matchingCondition(pod *corev1.Pod, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		for _, p := range patterns {
			if c.Type == p.Type && c.Status == p.Status {
				return c
			}
		}
	}
	return nil
}

// successPolicyMet returns the SuccessCriteriaMet message if a rule of
// the Indexed Job's success policy is satisfied by the succeeded indexes.
func successPolicyMet(policy *batchv1.SuccessPolicy, completions int, succeeded indexSet) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		met := false
		if rule.SucceededIndexes != nil {
			required := parseIndexSet(*rule.SucceededIndexes, completions)
			if len(required) == 0 {
				continue
			}
			done := required.overlapCount(succeeded)
			met = done == required.count() || (rule.SucceededCount != nil && done >= int(*rule.SucceededCount))
		} else if rule.SucceededCount != nil {
			met = succeeded.count() >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}
