package controllers

import (
	"bytes"
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
)

// The expected hashes were computed with kube-controller-manager 1.37's
// own function, so ReplicaSet names match upstream's for one template.
func TestTemplateHashMatchesUpstream(t *testing.T) {
	web := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27", TerminationMessagePath: "/dev/termination-log",
				TerminationMessagePolicy: "File", ImagePullPolicy: "IfNotPresent"}},
			RestartPolicy: "Always", TerminationGracePeriodSeconds: ptr.To(int64(30)), DNSPolicy: "ClusterFirst",
			SecurityContext: &corev1.PodSecurityContext{}, SchedulerName: "default-scheduler",
		},
	}
	for _, tc := range []struct {
		name      string
		template  corev1.PodTemplateSpec
		collision *int32
		want      string
	}{
		{"empty", corev1.PodTemplateSpec{}, nil, "54f4c57dcb"},
		{"empty, one collision", corev1.PodTemplateSpec{}, ptr.To(int32(1)), "6554565b97"},
		{"defaulted nginx", web, nil, "69c6f74b8b"},
		{"defaulted nginx, one collision", web, ptr.To(int32(1)), "6bf49c6d99"},
	} {
		if got := TemplateHash(&tc.template, tc.collision); got != tc.want {
			t.Errorf("%s: hash %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTemplateHashDependsOnCollisions(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	one := int32(1)
	if TemplateHash(tmpl, nil) != TemplateHash(tmpl.DeepCopy(), nil) {
		t.Error("hash is not stable")
	}
	if TemplateHash(tmpl, nil) == TemplateHash(tmpl, &one) {
		t.Error("collision count does not change the hash")
	}
}

// TestTemplatePatchRestoresTemplate: applied to a set with another
// template, a revision's data gives back the recorded template whole
// (fields the other template had are not merged in).
func TestTemplatePatchRestoresTemplate(t *testing.T) {
	recorded := appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}},
	}}}
	patch, err := TemplatePatch(&recorded.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	current := recorded.DeepCopy()
	current.Spec.Template.Labels["extra"] = "x"
	current.Spec.Template.Spec.Containers[0].Image = "v2"
	current.Spec.Template.Spec.NodeName = "n"
	original, err := json.Marshal(current)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := strategicpatch.StrategicMergePatch(original, patch, &appsv1.DaemonSet{})
	if err != nil {
		t.Fatal(err)
	}
	var restored appsv1.DaemonSet
	if err := json.Unmarshal(patched, &restored); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(restored.Spec.Template, recorded.Spec.Template) {
		t.Errorf("restored template %+v, want %+v", restored.Spec.Template, recorded.Spec.Template)
	}
	again, _ := TemplatePatch(recorded.Spec.Template.DeepCopy())
	if !bytes.Equal(patch, again) {
		t.Error("equal templates give different revision data")
	}
}
