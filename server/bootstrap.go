//lint:file-ignore SA1019 the core/v1 Endpoints of the kubernetes Service are part of the API clients still read.

package server

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	schedulingv1helpers "k8s.io/kubernetes/pkg/apis/scheduling/v1"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
	"k8s.io/utils/ptr"

	"kite/ingress"
)

// DNSServiceName is the Service in kube-system that carries the cluster
// DNS address.
const DNSServiceName = "kube-dns"

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// bootstrap creates, through the API like any client, the objects every
// cluster starts with: system namespaces, the `kubernetes` Service with
// endpoints at this server, the `kube-dns` Service (unless DNS is
// disabled), the default IngressClass `kite` (unless the ingress is
// disabled), the system PriorityClasses and the default RBAC roles.
func bootstrap(ctx context.Context, config *rest.Config, cfg Config) error {
	config = rest.CopyConfig(config)
	config.UserAgent = "kite-bootstrap"
	config.Timeout = 30 * time.Second
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	for _, ns := range systemNamespaces {
		if err := createIfMissing(ctx, client.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if err := ensureKubernetesService(ctx, client, cfg); err != nil {
		return err
	}
	if !slices.Contains(cfg.Disable, "dns") {
		if err := ensureDNSService(ctx, client, cfg); err != nil {
			return err
		}
	}
	if !slices.Contains(cfg.Disable, "ingress") {
		if err := ensureIngressClass(ctx, client); err != nil {
			return err
		}
	}
	// system-node-critical and system-cluster-critical, which system
	// workloads name in priorityClassName.
	for _, pc := range schedulingv1helpers.SystemPriorityClasses() {
		if err := createIfMissing(ctx, client.SchedulingV1().PriorityClasses().Create, pc); err != nil {
			return err
		}
	}
	return ensureBootstrapRBAC(ctx, client)
}

func createIfMissing[T any](ctx context.Context, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) error {
	if _, err := create(ctx, obj, metav1.CreateOptions{FieldManager: "kite-bootstrap"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func ensureKubernetesService(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	port := int32(cfg.HTTPSPort)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: firstServiceIP(cfg.ServiceCIDR).String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(port)}},
		},
	}
	// Get first: creating it again would fail on its already allocated IP
	// before reaching AlreadyExists.
	if _, err := client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, svc.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if err := createIfMissing(ctx, client.CoreV1().Services(metav1.NamespaceDefault).Create, svc); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	ip := cfg.AdvertiseAddress.String()
	endpoints := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}}, Ports: []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}}},
	}
	if err := upsertEndpoints(ctx, client, endpoints); err != nil {
		return err
	}
	family := discoveryv1.AddressTypeIPv4
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	cur, err := client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, slice, metav1.CreateOptions{FieldManager: "kite-bootstrap"})
	case err == nil && (len(cur.Endpoints) != 1 || len(cur.Endpoints[0].Addresses) != 1 || cur.Endpoints[0].Addresses[0] != ip || len(cur.Ports) != 1 || *cur.Ports[0].Port != port):
		slice.ResourceVersion = cur.ResourceVersion
		_, err = client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Update(ctx, slice, metav1.UpdateOptions{FieldManager: "kite-bootstrap"})
	}
	return err
}

// ensureDNSService creates kube-system/kube-dns with the cluster DNS
// address, as clusters running CoreDNS have it, so tools and manifests that
// look for it find it. It has no selector and no endpoints: every agent
// answers on that address itself.
func ensureDNSService(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	services := client.CoreV1().Services(metav1.NamespaceSystem)
	if _, err := services.Get(ctx, DNSServiceName, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: DNSServiceName, Namespace: metav1.NamespaceSystem, Labels: map[string]string{
			"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS",
		}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: cfg.ClusterDNS.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	return createIfMissing(ctx, services.Create, svc)
}

// ensureIngressClass creates the IngressClass of the built-in ingress,
// marked as the cluster's default as k3s marks Traefik's, so Ingresses that
// name no class are served. A user may take the default mark away later;
// an existing class is left as it is.
func ensureIngressClass(ctx context.Context, client kubernetes.Interface) error {
	class := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ingress.ClassName,
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: ingress.ControllerName},
	}
	return createIfMissing(ctx, client.NetworkingV1().IngressClasses().Create, class)
}

// upsertEndpoints points the kubernetes Endpoints at this server, fixing
// them when the advertise address or port changed since the last start.
func upsertEndpoints(ctx context.Context, client kubernetes.Interface, want *corev1.Endpoints) error {
	eps := client.CoreV1().Endpoints(want.Namespace)
	cur, err := eps.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = eps.Create(ctx, want, metav1.CreateOptions{FieldManager: "kite-bootstrap"})
		return err
	}
	if err != nil {
		return err
	}
	if fmt.Sprint(cur.Subsets) == fmt.Sprint(want.Subsets) {
		return nil
	}
	want.ResourceVersion = cur.ResourceVersion
	_, err = eps.Update(ctx, want, metav1.UpdateOptions{FieldManager: "kite-bootstrap"})
	return err
}

// ensureBootstrapRBAC creates upstream's default roles and bindings that do
// not exist yet; existing ones are left as users changed them.
func ensureBootstrapRBAC(ctx context.Context, client kubernetes.Interface) error {
	rbac := client.RbacV1()
	existing := map[string]bool{}
	roles, err := rbac.ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, r := range roles.Items {
		existing["cr/"+r.Name] = true
	}
	bindings, err := rbac.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, b := range bindings.Items {
		existing["crb/"+b.Name] = true
	}
	// Creating a hundred roles one after another would dominate a first
	// start; a few at a time keeps it short without flooding etcd.
	var creates []func() error
	for _, r := range append(bootstrappolicy.ClusterRoles(), bootstrappolicy.ControllerRoles()...) {
		if !existing["cr/"+r.Name] {
			creates = append(creates, func() error {
				return wrapName("clusterrole", r.Name, createIfMissing(ctx, rbac.ClusterRoles().Create, &r))
			})
		}
	}
	for _, b := range append(bootstrappolicy.ClusterRoleBindings(), bootstrappolicy.ControllerRoleBindings()...) {
		if !existing["crb/"+b.Name] {
			creates = append(creates, func() error {
				return wrapName("clusterrolebinding", b.Name, createIfMissing(ctx, rbac.ClusterRoleBindings().Create, &b))
			})
		}
	}
	for ns, list := range bootstrappolicy.NamespaceRoles() {
		for _, r := range list {
			creates = append(creates, func() error {
				return wrapName("role", ns+"/"+r.Name, createIfMissing(ctx, rbac.Roles(ns).Create, &r))
			})
		}
	}
	for ns, list := range bootstrappolicy.NamespaceRoleBindings() {
		for _, b := range list {
			creates = append(creates, func() error {
				return wrapName("rolebinding", ns+"/"+b.Name, createIfMissing(ctx, rbac.RoleBindings(ns).Create, &b))
			})
		}
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, create := range creates {
		g.Go(create)
	}
	return g.Wait()
}

func wrapName(kind, name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return nil
}
