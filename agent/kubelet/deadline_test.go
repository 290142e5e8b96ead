package kubelet

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDeadlineLeft(t *testing.T) {
	ten := int64(10)
	start := metav1.NewTime(testEpoch)
	tests := []struct {
		name     string
		deadline *int64
		start    *metav1.Time
		now      time.Time
		wantLeft time.Duration
		wantOK   bool
	}{
		{"no deadline", nil, &start, testEpoch, 0, false},
		{"not started", &ten, nil, testEpoch, 0, false},
		{"running", &ten, &start, testEpoch.Add(4 * time.Second), 6 * time.Second, true},
		{"past", &ten, &start, testEpoch.Add(12 * time.Second), -2 * time.Second, true},
	}
	for _, tt := range tests {
		pod := &v1.Pod{Spec: v1.PodSpec{ActiveDeadlineSeconds: tt.deadline}}
		left, ok := deadlineLeft(pod, v1.PodStatus{StartTime: tt.start}, tt.now)
		if left != tt.wantLeft || ok != tt.wantOK {
			t.Errorf("%s: deadlineLeft = %v, %v; want %v, %v", tt.name, left, ok, tt.wantLeft, tt.wantOK)
		}
	}
}

func TestComputeStatusWithFailure(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, nil, "app")
	st := statusFor(pod, withSandbox(exited("a1", "app", "sb1", 0, 137)), func(in *statusInputs) {
		in.Terminal = true
		in.Failure = &podFailure{Reason: reasonDeadlineExceeded, Message: messageDeadlineExceeded}
	})
	if st.Phase != v1.PodFailed || st.Reason != reasonDeadlineExceeded || st.Message != messageDeadlineExceeded {
		t.Errorf("status = %s %q %q", st.Phase, st.Reason, st.Message)
	}
	if st.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("container state = %+v, want terminated", st.ContainerStatuses[0].State)
	}
}
