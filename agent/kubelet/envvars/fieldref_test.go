package envvars

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "shop", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"example.com/note": "say \"hi\"\n", "b": "2"},
		},
		Spec: v1.PodSpec{NodeName: "node-a", ServiceAccountName: "builder"},
		Status: v1.PodStatus{
			PodIP:   "10.42.0.7",
			PodIPs:  []v1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}},
			HostIP:  "192.168.1.5",
			HostIPs: []v1.HostIP{{IP: "192.168.1.5"}, {IP: "fd01::5"}},
		},
	}
}

func TestPodFieldValue(t *testing.T) {
	tests := []struct {
		path, version string
		want          string
		wantErr       string
	}{
		{path: "metadata.name", want: "web-0"},
		{path: "metadata.namespace", version: "v1", want: "shop"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: "b=\"2\"\nexample.com/note=\"say \\\"hi\\\"\\n\""},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['example.com/note']", want: "say \"hi\"\n"},
		{path: "metadata.labels['bad key!']", wantErr: "invalid key subscript in metadata.labels['bad key!']"},
		{path: "metadata.name['x']", wantErr: `fieldPath "metadata.name['x']" does not support subscript`},
		{path: "spec.nodeName", want: "node-a"},
		{path: "spec.serviceAccountName", want: "builder"},
		{path: "status.podIP", want: "10.42.0.7"},
		{path: "status.podIPs", want: "10.42.0.7,fd00::7"},
		{path: "status.hostIP", want: "192.168.1.5"},
		{path: "status.hostIPs", want: "192.168.1.5,fd01::5"},
		{path: "spec.restartPolicy", wantErr: "unsupported fieldPath: spec.restartPolicy"},
		{path: "metadata.name", version: "v2", wantErr: "unsupported pod version: v2"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := PodFieldValue(testPod(), tt.version, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPodFieldValueWithoutAddresses(t *testing.T) {
	pod := testPod()
	pod.Status = v1.PodStatus{PodIP: "10.42.0.9"}
	if got, _ := PodFieldValue(pod, "", "status.podIPs"); got != "10.42.0.9" {
		t.Errorf("podIPs from PodIP alone = %q", got)
	}
	pod.Status = v1.PodStatus{}
	if got, err := PodFieldValue(pod, "", "status.podIP"); err != nil || got != "" {
		t.Errorf("podIP with none = %q, %v; want empty", got, err)
	}
	if _, err := PodFieldValue(pod, "", "status.hostIP"); err == nil {
		t.Error("hostIP without a host address should fail, not yield an empty value")
	}
}
