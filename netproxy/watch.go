package netproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// byServiceIndex indexes EndpointSlices by "namespace/service".
const byServiceIndex = "service"

// notifier receives the events the watcher turns into work.
type notifier interface {
	serviceChanged(types.NamespacedName)
	nodeChanged()
}

// watcher holds the informers over Services, EndpointSlices and, when the
// node's addresses come from its Node, this node's Node.
type watcher struct {
	factory     informers.SharedInformerFactory
	nodeFactory informers.SharedInformerFactory
	services    corelisters.ServiceLister
	slices      cache.Indexer
	nodes       corelisters.NodeLister // nil when the Node is not watched
	synced      []cache.InformerSynced
}

func newWatcher(client kubernetes.Interface, nodeName string, watchNode bool, n notifier) (*watcher, error) {
	w := &watcher{
		factory: informers.NewSharedInformerFactory(client, 0),
		nodeFactory: informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", nodeName).String()
			})),
	}
	svcInformer := w.factory.Core().V1().Services()
	sliceInformer := w.factory.Discovery().V1().EndpointSlices()
	type informer struct {
		what string
		inf  cache.SharedIndexInformer
		slim cache.TransformFunc
		on   func(any)
	}
	onService := func(obj any) {
		if m, err := metaOf(obj); err == nil {
			n.serviceChanged(types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()})
		}
	}
	onSlice := func(obj any) {
		keys, _ := sliceServiceIndex(tombstoneObject(obj))
		for _, k := range keys {
			ns, name, err := cache.SplitMetaNamespaceKey(k)
			if err == nil {
				n.serviceChanged(types.NamespacedName{Namespace: ns, Name: name})
			}
		}
	}
	all := []informer{
		{"services", svcInformer.Informer(), slimService, onService},
		{"endpointslices", sliceInformer.Informer(), slimEndpointSlice, onSlice},
	}
	// A factory starts only the informers asked for: without watchNode the
	// Node is never listed, and its status updates wake nothing.
	if watchNode {
		nodeInformer := w.nodeFactory.Core().V1().Nodes()
		all = append(all, informer{"node", nodeInformer.Informer(), slimNode, func(any) { n.nodeChanged() }})
		w.nodes = nodeInformer.Lister()
	}
	for _, step := range all {
		if err := step.inf.SetTransform(step.slim); err != nil {
			return nil, fmt.Errorf("slim %s informer: %w", step.what, err)
		}
	}
	if err := sliceInformer.Informer().AddIndexers(cache.Indexers{byServiceIndex: sliceServiceIndex}); err != nil {
		return nil, fmt.Errorf("index endpointslices: %w", err)
	}

	for _, h := range all {
		fn := h.on
		_, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: fn,
			UpdateFunc: func(oldObj, newObj any) {
				// A slice's service label can change: both owners are dirty.
				fn(oldObj)
				fn(newObj)
			},
			DeleteFunc: fn,
		})
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
	}
	w.services = svcInformer.Lister()
	w.slices = sliceInformer.Informer().GetIndexer()
	for _, h := range all {
		w.synced = append(w.synced, h.inf.HasSynced)
	}
	return w, nil
}

// start runs the informers and waits until their caches hold the world.
func (w *watcher) start(ctx context.Context) error {
	w.factory.Start(ctx.Done())
	w.nodeFactory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return errors.New("netproxy: informer caches did not sync before shutdown")
	}
	return nil
}

// servicePorts builds the service ports of one Service from the caches;
// a Service that is gone has none.
func (w *watcher) servicePorts(key types.NamespacedName, nodeName string) ([]*ServicePort, error) {
	svc, err := w.services.Services(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	objs, err := w.slices.ByIndex(byServiceIndex, key.String())
	if err != nil {
		return nil, err
	}
	list := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			list = append(list, s)
		}
	}
	return buildServicePorts(svc, list, nodeName), nil
}

// nodeAddresses returns the node's internal and external addresses.
func (w *watcher) nodeAddresses(nodeName string) []netip.Addr {
	if w.nodes == nil {
		return nil
	}
	node, err := w.nodes.Get(nodeName)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if a.Type != v1.NodeInternalIP && a.Type != v1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// sliceServiceIndex keys a slice by the Service its label names.
func sliceServiceIndex(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func tombstoneObject(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := tombstoneObject(obj).(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return m, nil
}
