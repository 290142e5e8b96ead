package apiserver_test

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestIntegrationPodAdmission: new pods get the not-ready/unreachable
// tolerations for 300 s and their priority from the PriorityClass, as
// kube-apiserver's default admission plugins do.
func TestIntegrationPodAdmission(t *testing.T) {
	e := startEnv(t)
	ns := e.namespace(t)
	pods := e.c.CoreV1().Pods(ns)
	c := ctx(t)

	t.Run("defaults", func(t *testing.T) {
		p, err := pods.Create(c, pod(ns, "plain"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []corev1.Toleration{
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		}
		if !reflect.DeepEqual(p.Spec.Tolerations, want) {
			t.Errorf("tolerations %+v, want %+v", p.Spec.Tolerations, want)
		}
		if p.Spec.Priority == nil || *p.Spec.Priority != 0 || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
			t.Errorf("priority %v policy %v, want 0 PreemptLowerPriority", p.Spec.Priority, p.Spec.PreemptionPolicy)
		}
	})

	t.Run("own toleration kept", func(t *testing.T) {
		in := pod(ns, "tolerant")
		in.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		p, err := pods.Create(c, in, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Spec.Tolerations) != 1 {
			t.Errorf("a pod tolerating everything got more tolerations: %+v", p.Spec.Tolerations)
		}
	})

	t.Run("system class", func(t *testing.T) {
		in := pod(ns, "critical")
		in.Spec.PriorityClassName = "system-node-critical"
		p, err := pods.Create(c, in, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *p.Spec.Priority != 2000001000 {
			t.Errorf("priority %d, want 2000001000", *p.Spec.Priority)
		}
	})

	t.Run("missing class", func(t *testing.T) {
		in := pod(ns, "nameless")
		in.Spec.PriorityClassName = "no-such-class"
		_, err := pods.Create(c, in, metav1.CreateOptions{})
		st := wantAPIError(t, err, 403, metav1.StatusReasonForbidden)
		if !strings.Contains(st.Message, "no PriorityClass with name no-such-class was found") {
			t.Errorf("message %q", st.Message)
		}
	})

	t.Run("priority given by hand", func(t *testing.T) {
		in := pod(ns, "pushy")
		in.Spec.Priority = ptr.To[int32](10)
		_, err := pods.Create(c, in, metav1.CreateOptions{})
		wantAPIError(t, err, 403, metav1.StatusReasonForbidden)
	})

	t.Run("global default", func(t *testing.T) {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "t-default"}, Value: 42, GlobalDefault: true,
			PreemptionPolicy: ptr.To(corev1.PreemptNever)}
		if _, err := e.c.SchedulingV1().PriorityClasses().Create(c, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = e.c.SchedulingV1().PriorityClasses().Delete(c, pc.Name, metav1.DeleteOptions{}) }()
		eventually(t, "the default class applies", func() bool {
			p, err := pods.Create(c, pod(ns, "defaulted"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err == nil && p.Spec.PriorityClassName == "t-default" && *p.Spec.Priority == 42 && *p.Spec.PreemptionPolicy == corev1.PreemptNever
		})
	})
}
