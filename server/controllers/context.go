package controllers

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
)

// Runner is a controller ready to run: Run works until ctx ends. A Runner
// is made fresh for every leadership term (its queue dies with Run).
type Runner interface {
	Run(ctx context.Context)
}

// Context is what the controllers and the scheduler of one process share:
// API clients, one informer factory (so each kind is cached once however
// many controllers watch it) and one event sink. It lives as long
// as the process; controllers come and go with leadership terms.
type Context struct {
	Client    kubernetes.Interface
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory

	ctx         context.Context // the process's: informers and events stop with it
	events      *eventSink
	startEvents sync.Once
}

// NewContext connects to the API server with config. Informers and the
// event sink stop when ctx ends.
func NewContext(ctx context.Context, config *rest.Config) (*Context, error) {
	config = rest.CopyConfig(config)
	if config.UserAgent == "" {
		config.UserAgent = "kite-controller-manager"
	}
	// Protobuf, as kube-controller-manager speaks: a fraction of JSON's
	// cost to encode and decode on both sides of every watch event.
	config.ContentType = runtime.ContentTypeProtobuf
	config.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	return &Context{
		Client:   client,
		Metadata: meta,
		// Managed fields are never read by a controller and are a good
		// part of every object's size.
		Informers: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripManagedFields)),
		ctx:       ctx,
		events:    newEventSink(client.EventsV1()),
	}, nil
}

// stripManagedFields drops what no controller reads from every cached
// object (objects reach the transform freshly decoded, so changing them in
// place is safe).
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// Recorder records events.k8s.io/v1 Events reported by the named
// controller (upstream's names: "deployment-controller",
// "default-scheduler", ...). Repeats of one event within a few minutes
// become one Event with a growing series count.
func (c *Context) Recorder(controller string) events.EventRecorder {
	c.startEvents.Do(func() { c.events.run(c.ctx) })
	return newEventRecorder(c.events, controller)
}

// Run starts the informers the runners registered and runs the runners
// until ctx (one leadership term) ends; it returns when all have stopped.
func (c *Context) Run(ctx context.Context, runners ...Runner) {
	c.Informers.Start(c.ctx.Done())
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx)
		}()
	}
	wg.Wait()
}

// Handle adds handler to informer until ctx ends, and returns what tells
// whether the handler has seen the informer's initial list. Controllers
// add their handlers through it in Run, so a controller that loses
// leadership stops hearing about changes.
func Handle(ctx context.Context, informer cache.SharedIndexInformer, handler cache.ResourceEventHandler) cache.InformerSynced {
	reg, err := informer.AddEventHandler(handler)
	if err != nil {
		// Only a stopped informer refuses handlers: the process is ending.
		return func() bool { return false }
	}
	context.AfterFunc(ctx, func() { _ = informer.RemoveEventHandler(reg) })
	return reg.HasSynced
}
