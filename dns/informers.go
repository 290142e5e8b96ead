package dns

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// clusterWatch keeps the model in step with Services, EndpointSlices and
// Namespaces. Informer stores hold slim copies (see the slim* transforms) so
// the agent does not keep full objects it never reads.
type clusterWatch struct {
	informers []cache.SharedIndexInformer
	model     *model
}

func newClusterWatch(client kubernetes.Interface, m *model) (*clusterWatch, error) {
	services := coreinformers.NewServiceInformer(client, metav1.NamespaceAll, 0, cache.Indexers{})
	namespaces := coreinformers.NewNamespaceInformer(client, 0, cache.Indexers{})
	slices := discoveryinformers.NewFilteredEndpointSliceInformer(client, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName })

	w := &clusterWatch{informers: []cache.SharedIndexInformer{services, namespaces, slices}, model: m}
	wiring := []struct {
		informer  cache.SharedIndexInformer
		transform cache.TransformFunc
		handler   cache.ResourceEventHandlerFuncs
	}{
		{services, slimService, cache.ResourceEventHandlerFuncs{
			AddFunc: w.applyService, UpdateFunc: func(_, o any) { w.applyService(o) }, DeleteFunc: w.removeService}},
		{namespaces, slimNamespace, cache.ResourceEventHandlerFuncs{
			AddFunc: w.applyNamespace, UpdateFunc: func(_, o any) { w.applyNamespace(o) }, DeleteFunc: w.removeNamespace}},
		{slices, slimEndpointSlice, cache.ResourceEventHandlerFuncs{
			AddFunc: w.applySlice, UpdateFunc: func(_, o any) { w.applySlice(o) }, DeleteFunc: w.removeSlice}},
	}
	for _, x := range wiring {
		if err := x.informer.SetTransform(x.transform); err != nil {
			return nil, fmt.Errorf("set informer transform: %w", err)
		}
		if _, err := x.informer.AddEventHandler(x.handler); err != nil {
			return nil, fmt.Errorf("add informer event handler: %w", err)
		}
	}
	return w, nil
}

// run starts the informers and reports true once all have synced, false if
// ctx ended first. The informers stop when ctx ends.
func (w *clusterWatch) run(ctx context.Context) bool {
	synced := make([]cache.InformerSynced, 0, len(w.informers))
	for _, inf := range w.informers {
		go inf.RunWithContext(ctx)
		synced = append(synced, inf.HasSynced)
	}
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// deletedObject unwraps the tombstone an informer hands over when it missed
// the delete event itself.
func deletedObject(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (w *clusterWatch) applyService(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	w.model.setService(serviceRecordFrom(svc))
}

func (w *clusterWatch) removeService(obj any) {
	if svc, ok := deletedObject(obj).(*corev1.Service); ok {
		w.model.deleteService(objectKey{svc.Namespace, svc.Name})
	}
}

func (w *clusterWatch) applyNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		w.model.setNamespace(ns.Name)
	}
}

func (w *clusterWatch) removeNamespace(obj any) {
	if ns, ok := deletedObject(obj).(*corev1.Namespace); ok {
		w.model.deleteNamespace(ns.Name)
	}
}

func (w *clusterWatch) applySlice(obj any) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	key := objectKey{slice.Namespace, slice.Name}
	record := sliceRecordFrom(slice)
	if record == nil {
		// The service-name label was removed: the slice no longer belongs to a Service.
		w.model.deleteSlice(key)
		return
	}
	w.model.setSlice(key, record)
}

func (w *clusterWatch) removeSlice(obj any) {
	if slice, ok := deletedObject(obj).(*discoveryv1.EndpointSlice); ok {
		w.model.deleteSlice(objectKey{slice.Namespace, slice.Name})
	}
}

// serviceRecordFrom converts a (slim) Service into its model record.
func serviceRecordFrom(svc *corev1.Service) *serviceRecord {
	r := &serviceRecord{namespace: svc.Namespace, name: svc.Name}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		r.externalName = svc.Spec.ExternalName
		return r
	}
	r.headless = svc.Spec.ClusterIP == corev1.ClusterIPNone
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	if !r.headless {
		for _, s := range ips {
			if ip, err := netip.ParseAddr(s); err == nil {
				r.clusterIPs = append(r.clusterIPs, ip.Unmap())
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		r.ports = append(r.ports, portInfo{name: p.Name, protocol: string(p.Protocol), port: p.Port})
	}
	if len(r.ports) == 0 {
		r.ports = []portInfo{{port: -1}}
	}
	return r
}

// sliceRecordFrom converts a (slim) EndpointSlice into its model record, or
// nil when it names no Service. Only ready endpoints are kept: the
// EndpointSlice controller already reports publishNotReadyAddresses
// endpoints as ready.
func sliceRecordFrom(slice *discoveryv1.EndpointSlice) *sliceRecord {
	service := slice.Labels[discoveryv1.LabelServiceName]
	if service == "" {
		return nil
	}
	r := &sliceRecord{namespace: slice.Namespace, service: service}
	for _, ep := range slice.Endpoints {
		if !endpointReady(ep) {
			continue
		}
		hostname := ""
		if ep.Hostname != nil {
			hostname = *ep.Hostname
		}
		for _, s := range ep.Addresses {
			if ip, err := netip.ParseAddr(s); err == nil {
				r.addresses = append(r.addresses, endpointAddress{ip: ip.Unmap(), hostname: hostname})
			}
		}
	}
	for _, p := range slice.Ports {
		info := portInfo{port: -1}
		if p.Name != nil {
			info.name = *p.Name
		}
		if p.Protocol != nil {
			info.protocol = string(*p.Protocol)
		}
		if p.Port != nil {
			info.port = *p.Port
		}
		r.ports = append(r.ports, info)
	}
	if len(r.ports) == 0 {
		r.ports = []portInfo{{port: -1}}
	}
	return r
}

// endpointReady follows the EndpointSlice API: an unset ready condition means ready.
func endpointReady(ep discoveryv1.Endpoint) bool {
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}
