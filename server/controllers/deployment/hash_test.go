package deployment

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		if got := templateHash(&tc.template, tc.collision); got != tc.want {
			t.Errorf("%s: hash %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestReplicaSetName(t *testing.T) {
	for _, tc := range []struct{ deployment, hash, want string }{
		{"web", "69c6f74b8b", "web-69c6f74b8b"},
		{strings.Repeat("a", 253), "69c6f74b8b", strings.Repeat("a", 242) + "-69c6f74b8b"},
	} {
		if got := replicaSetName(tc.deployment, tc.hash); got != tc.want {
			t.Errorf("replicaSetName(%q) = %q, want %q", tc.deployment, got, tc.want)
		}
	}
}
