package envvars

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Sources is where environment values come from. ConfigMap and Secret
// return an error for which apierrors.IsNotFound holds when the object does
// not exist, so optional references can be skipped.
type Sources interface {
	ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error)
	Secret(ctx context.Context, ns, name string) (*v1.Secret, error)
	Services(ctx context.Context, ns string) ([]*v1.Service, error)
}

// ClientSources reads straight from the API server.
func ClientSources(c kubernetes.Interface) Sources {
	return clientSources{c: c}
}

type clientSources struct {
	c kubernetes.Interface
}

// The kubelet's object managers report a missing object with the singular
// resource name (`configmap "x" not found`); users know that wording from
// CreateContainerConfigError and MountVolume events, so keep it.

func (s clientSources) ConfigMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	cm, err := s.c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(v1.Resource("configmap"), name)
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", ns, name, err)
	}
	return cm, nil
}

func (s clientSources) Secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	secret, err := s.c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(v1.Resource("secret"), name)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	return secret, nil
}

func (s clientSources) Services(ctx context.Context, ns string) ([]*v1.Service, error) {
	list, err := s.c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services in namespace %s: %w", ns, err)
	}
	out := make([]*v1.Service, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
