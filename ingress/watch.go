package ingress

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// byServiceIndex indexes EndpointSlices by "namespace/service".
const byServiceIndex = "service"

// watcher holds the informers the routing table is built from. Secrets are
// watched only when of type kubernetes.io/tls, through a field selector.
type watcher struct {
	factory       informers.SharedInformerFactory
	secretFactory informers.SharedInformerFactory
	ingresses     networkinglisters.IngressLister
	classes       networkinglisters.IngressClassLister
	services      corelisters.ServiceLister
	slices        cache.Indexer
	secrets       corelisters.SecretLister
	synced        []cache.InformerSynced
}

// newWatcher wires the informers; onChange is called (from informer
// goroutines) after any change that may alter the table.
func newWatcher(client kubernetes.Interface, onChange func()) (*watcher, error) {
	w := &watcher{
		factory: informers.NewSharedInformerFactory(client, 0),
		secretFactory: informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)).String()
			})),
	}
	ingInformer := w.factory.Networking().V1().Ingresses()
	classInformer := w.factory.Networking().V1().IngressClasses()
	svcInformer := w.factory.Core().V1().Services()
	sliceInformer := w.factory.Discovery().V1().EndpointSlices()
	secretInformer := w.secretFactory.Core().V1().Secrets()

	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(any, any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	}
	for _, step := range []struct {
		what string
		inf  cache.SharedIndexInformer
		slim cache.TransformFunc
	}{
		{"ingresses", ingInformer.Informer(), slimIngress},
		{"ingressclasses", classInformer.Informer(), slimIngressClass},
		{"services", svcInformer.Informer(), slimService},
		{"endpointslices", sliceInformer.Informer(), slimEndpointSlice},
		{"secrets", secretInformer.Informer(), slimSecret},
	} {
		if err := step.inf.SetTransform(step.slim); err != nil {
			return nil, fmt.Errorf("slim %s informer: %w", step.what, err)
		}
		if _, err := step.inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("watch %s: %w", step.what, err)
		}
		w.synced = append(w.synced, step.inf.HasSynced)
	}
	if err := sliceInformer.Informer().AddIndexers(cache.Indexers{byServiceIndex: sliceServiceIndex}); err != nil {
		return nil, fmt.Errorf("index endpointslices: %w", err)
	}
	w.ingresses = ingInformer.Lister()
	w.classes = classInformer.Lister()
	w.services = svcInformer.Lister()
	w.slices = sliceInformer.Informer().GetIndexer()
	w.secrets = secretInformer.Lister()
	return w, nil
}

// run starts the informers and reports whether they synced before ctx ended.
func (w *watcher) run(ctx context.Context) bool {
	w.factory.Start(ctx.Done())
	w.secretFactory.Start(ctx.Done())
	return cache.WaitForCacheSync(ctx.Done(), w.synced...)
}

// shutdown waits for the informer goroutines after ctx has ended.
func (w *watcher) shutdown() {
	w.factory.Shutdown()
	w.secretFactory.Shutdown()
}

func sliceServiceIndex(obj any) ([]string, error) {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := slice.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{slice.Namespace + "/" + name}, nil
}

// slicesOf returns the EndpointSlices of a Service.
func (w *watcher) slicesOf(namespace, service string) []*discoveryv1.EndpointSlice {
	objs, err := w.slices.ByIndex(byServiceIndex, namespace+"/"+service)
	if err != nil {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, s)
		}
	}
	return out
}
