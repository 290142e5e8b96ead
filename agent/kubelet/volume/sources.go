package volume

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kite/agent/kubelet/envvars"
)

// Sources is where volume contents come from. ConfigMap and Secret return
// an error for which apierrors.IsNotFound holds when the object does not
// exist, so optional volumes can be left empty.
type Sources interface {
	ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error)
	Secret(ctx context.Context, ns, name string) (*v1.Secret, error)
	PersistentVolumeClaim(ctx context.Context, ns, name string) (*v1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*v1.PersistentVolume, error)
	ServiceAccountToken(ctx context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// ClientSources reads straight from the API server.
func ClientSources(c kubernetes.Interface) Sources {
	return clientSources{objects: envvars.ClientSources(c), c: c}
}

type clientSources struct {
	objects envvars.Sources
	c       kubernetes.Interface
}

func (s clientSources) ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	return s.objects.ConfigMap(ctx, ns, name)
}

func (s clientSources) Secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	return s.objects.Secret(ctx, ns, name)
}

func (s clientSources) PersistentVolumeClaim(ctx context.Context, ns, name string) (*v1.PersistentVolumeClaim, error) {
	pvc, err := s.c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch PVC from API server: %w", err)
	}
	return pvc, nil
}

func (s clientSources) PersistentVolume(ctx context.Context, name string) (*v1.PersistentVolume, error) {
	pv, err := s.c.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch PV %s from API server: %w", name, err)
	}
	return pv, nil
}

func (s clientSources) ServiceAccountToken(ctx context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	tr, err := s.c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("request token for service account %s/%s: %w", ns, sa, err)
	}
	return tr, nil
}
