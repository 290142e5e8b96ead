package envvars

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestClientSources(t *testing.T) {
	client := fake.NewClientset(
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}, Data: map[string]string{"k": "v"}},
		&v1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Data: map[string][]byte{"k": []byte("v")}},
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc"}},
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "svc2"}},
	)
	src := ClientSources(client)
	ctx := context.Background()

	if cm, err := src.ConfigMap(ctx, "ns", "cm"); err != nil || cm.Data["k"] != "v" {
		t.Errorf("ConfigMap = %v, %v", cm, err)
	}
	if s, err := src.Secret(ctx, "ns", "s"); err != nil || string(s.Data["k"]) != "v" {
		t.Errorf("Secret = %v, %v", s, err)
	}
	svcs, err := src.Services(ctx, "ns")
	if err != nil || len(svcs) != 1 || svcs[0].Name != "svc" {
		t.Errorf("Services = %v, %v", svcs, err)
	}

	_, err = src.ConfigMap(ctx, "ns", "missing")
	if !apierrors.IsNotFound(err) || err.Error() != `configmap "missing" not found` {
		t.Errorf("missing configmap error = %v", err)
	}
	_, err = src.Secret(ctx, "ns", "missing")
	if !apierrors.IsNotFound(err) || err.Error() != `secret "missing" not found` {
		t.Errorf("missing secret error = %v", err)
	}
}
