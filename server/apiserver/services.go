package apiserver

import (
	"context"
	"net"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	api "k8s.io/kubernetes/pkg/apis/core"
)

// serviceAllocator gives Services their cluster IPs and node ports.
type serviceAllocator struct {
	ips   *ipRange
	ports *portRange
}

func newServiceAllocator(client *clientv3.Client, cidr *net.IPNet, portBase, portSize int) *serviceAllocator {
	return &serviceAllocator{ips: newIPRange(client, cidr), ports: newPortRange(client, portBase, portSize)}
}

func needsNodePorts(svc *api.Service) bool {
	return svc.Spec.Type == api.ServiceTypeNodePort || svc.Spec.Type == api.ServiceTypeLoadBalancer
}

// needsHealthCheckNodePort: a LoadBalancer that keeps traffic on nodes with
// local endpoints gets a node port where load balancers probe which nodes
// those are.
func needsHealthCheckNodePort(svc *api.Service) bool {
	return svc.Spec.Type == api.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == api.ServiceExternalTrafficPolicyLocal
}

var healthCheckNodePortPath = field.NewPath("spec", "healthCheckNodePort")

// allocateOnCreate fills in what kube-apiserver's service REST allocates:
// IP family fields, the cluster IP and node ports. release undoes it.
func (s *Server) allocateOnCreate(ctx context.Context, h *resourceHandler, obj runtime.Object, dry bool) (release func(), err error) {
	svc, ok := obj.(*api.Service)
	if !ok {
		return func() {}, nil
	}
	a := s.allocator
	var ips []net.IP
	var ports []int
	release = func() {
		for _, ip := range ips {
			a.ips.Release(context.WithoutCancel(ctx), ip)
		}
		for _, p := range ports {
			a.ports.Release(context.WithoutCancel(ctx), p)
		}
	}
	fail := func(e error) (func(), error) {
		release()
		return nil, allocationError(h, svc, e)
	}
	if svc.Spec.Type != api.ServiceTypeExternalName {
		if svc.Spec.IPFamilyPolicy == nil {
			single := api.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &single
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []api.IPFamily{api.IPv4Protocol}
		}
		// clusterIPs alone names the IP too (upstream normalizes the two).
		if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
		}
		if ip := svc.Spec.ClusterIP; ip != "" && ip != api.ClusterIPNone {
			if errs := utilvalidation.IsValidIP(field.NewPath("spec", "clusterIPs").Index(0), ip); len(errs) > 0 {
				return nil, apierrors.NewInvalid(h.res.GVK().GroupKind(), svc.Name, errs)
			}
		}
		switch svc.Spec.ClusterIP {
		case api.ClusterIPNone:
			svc.Spec.ClusterIPs = []string{api.ClusterIPNone}
		default:
			var want net.IP
			if svc.Spec.ClusterIP != "" {
				want = net.ParseIP(svc.Spec.ClusterIP)
			}
			if !dry || want != nil {
				ip, err := a.ips.Allocate(ctx, want, field.NewPath("spec", "clusterIPs").Index(0))
				if err != nil {
					return fail(err)
				}
				ips = append(ips, ip)
				svc.Spec.ClusterIP = ip.String()
				svc.Spec.ClusterIPs = []string{ip.String()}
			}
		}
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			port, err := a.ports.Allocate(ctx, int(p.NodePort), field.NewPath("spec", "ports").Index(i).Child("nodePort"))
			if err != nil {
				return fail(err)
			}
			ports = append(ports, port)
			p.NodePort = int32(port)
		}
	}
	if needsHealthCheckNodePort(svc) {
		port, err := a.ports.Allocate(ctx, int(svc.Spec.HealthCheckNodePort), healthCheckNodePortPath)
		if err != nil {
			return fail(err)
		}
		ports = append(ports, port)
		svc.Spec.HealthCheckNodePort = int32(port)
	}
	if dry {
		release()
		return func() {}, nil
	}
	return release, nil
}

// admitServiceUpdate keeps allocations across updates, as upstream's
// service REST does before validation: cluster IPs, IP families and node
// ports a replaced Service leaves out are carried over, and node ports are
// allocated when the type starts needing them. finish, called with whether
// the update was stored, releases what the stored Service no longer holds,
// or what this update allocated in vain.
func (s *Server) admitServiceUpdate(ctx context.Context, h *resourceHandler, svc, old *api.Service) (finish func(stored bool), err error) {
	if svc.Spec.Type != api.ServiceTypeExternalName && old.Spec.Type != api.ServiceTypeExternalName {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
	}
	held := map[int32]bool{} // node ports the old Service holds
	if needsNodePorts(old) {
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 {
				held[p.NodePort] = true
			}
		}
	}
	if needsHealthCheckNodePort(old) && old.Spec.HealthCheckNodePort != 0 {
		held[old.Spec.HealthCheckNodePort] = true
	}
	var allocated []int
	release := func() {
		for _, p := range allocated {
			s.allocator.ports.Release(context.WithoutCancel(ctx), p)
		}
	}
	// allocate takes a node port (want, or any when 0) for this update;
	// on failure it gives back what the update took so far.
	allocate := func(want int32, path *field.Path) (int32, error) {
		port, err := s.allocator.ports.Allocate(ctx, int(want), path)
		if err != nil {
			release()
			return 0, allocationError(h, svc, err)
		}
		allocated = append(allocated, port)
		return int32(port), nil
	}
	if needsNodePorts(svc) {
		// A port left out keeps the node port the port of that name had.
		used := map[int32]bool{}
		for _, p := range svc.Spec.Ports {
			used[p.NodePort] = true
		}
		for i := range old.Spec.Ports {
			for j := range svc.Spec.Ports {
				op, np := &old.Spec.Ports[i], &svc.Spec.Ports[j]
				if np.NodePort == 0 && op.Name == np.Name && held[op.NodePort] && !used[op.NodePort] {
					np.NodePort = op.NodePort
					used[op.NodePort] = true
				}
			}
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 && held[p.NodePort] {
				continue
			}
			port, err := allocate(p.NodePort, field.NewPath("spec", "ports").Index(i).Child("nodePort"))
			if err != nil {
				return nil, err
			}
			p.NodePort = port
		}
	}
	if needsHealthCheckNodePort(svc) {
		if svc.Spec.HealthCheckNodePort == 0 && needsHealthCheckNodePort(old) {
			svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
		}
		if hc := svc.Spec.HealthCheckNodePort; hc == 0 || !held[hc] {
			port, err := allocate(hc, healthCheckNodePortPath)
			if err != nil {
				return nil, err
			}
			svc.Spec.HealthCheckNodePort = port
		}
	}
	return func(stored bool) {
		if !stored {
			release()
			return
		}
		kept := map[int32]bool{}
		if needsNodePorts(svc) {
			for _, p := range svc.Spec.Ports {
				kept[p.NodePort] = true
			}
		}
		if needsHealthCheckNodePort(svc) {
			kept[svc.Spec.HealthCheckNodePort] = true
		}
		for port := range held {
			if !kept[port] {
				s.allocator.ports.Release(context.WithoutCancel(ctx), int(port))
			}
		}
	}, nil
}

// allocationError words a refused allocation as the API's Invalid error on
// the field it names.
func allocationError(h *resourceHandler, svc *api.Service, err error) error {
	if fe, ok := err.(*field.Error); ok {
		return apierrors.NewInvalid(h.res.GVK().GroupKind(), svc.Name, field.ErrorList{fe})
	}
	return err
}

// releaseOnDelete frees a deleted Service's cluster IPs and node ports.
func (s *Server) releaseOnDelete(_ *resourceHandler, obj runtime.Object) {
	svc, ok := obj.(*api.Service)
	if !ok {
		return
	}
	ctx := context.Background()
	for _, ip := range svc.Spec.ClusterIPs {
		if parsed := net.ParseIP(ip); parsed != nil {
			s.allocator.ips.Release(ctx, parsed)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			s.allocator.ports.Release(ctx, int(p.NodePort))
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		s.allocator.ports.Release(ctx, int(svc.Spec.HealthCheckNodePort))
	}
}
