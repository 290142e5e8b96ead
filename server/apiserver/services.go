package apiserver

import (
	"context"
	"net"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	api "k8s.io/kubernetes/pkg/apis/core"
)

// serviceAllocator gives Services their cluster IPs and node ports.
type serviceAllocator struct {
	ips   *ipRange
	ports *portRange
}

func newServiceAllocator(client *clientv3.Client, cidr *net.IPNet, portBase, portSize int) (*serviceAllocator, error) {
	return &serviceAllocator{ips: newIPRange(client, cidr), ports: newPortRange(client, portBase, portSize)}, nil
}

func needsNodePorts(svc *api.Service) bool {
	return svc.Spec.Type == api.ServiceTypeNodePort || svc.Spec.Type == api.ServiceTypeLoadBalancer
}

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
		if fe, ok := e.(*field.Error); ok {
			return nil, apierrors.NewInvalid(h.res.GVK().GroupKind(), svc.Name, field.ErrorList{fe})
		}
		return nil, e
	}
	if svc.Spec.Type != api.ServiceTypeExternalName {
		if svc.Spec.IPFamilyPolicy == nil {
			single := api.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &single
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []api.IPFamily{api.IPv4Protocol}
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
	if dry {
		release()
		return func() {}, nil
	}
	return release, nil
}

// admitServiceUpdate keeps allocations across updates: a cluster IP left
// out of a replaced Service is carried over, and node ports are allocated
// when the type starts needing them.
func (s *Server) admitServiceUpdate(ctx context.Context, h *resourceHandler, svc, old *api.Service) error {
	if svc.Spec.Type != api.ServiceTypeExternalName && svc.Spec.ClusterIP == "" && old.Spec.ClusterIP != "" {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
	}
	if !needsNodePorts(svc) {
		return nil
	}
	taken := map[int32]bool{}
	for _, p := range old.Spec.Ports {
		taken[p.NodePort] = true
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort != 0 && taken[p.NodePort] {
			continue
		}
		port, err := s.allocator.ports.Allocate(ctx, int(p.NodePort), field.NewPath("spec", "ports").Index(i).Child("nodePort"))
		if err != nil {
			if fe, ok := err.(*field.Error); ok {
				return apierrors.NewInvalid(h.res.GVK().GroupKind(), svc.Name, field.ErrorList{fe})
			}
			return err
		}
		p.NodePort = int32(port)
	}
	return nil
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
}
