package server

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"kite/server/controllers/garbagecollector"
	"kite/server/controllers/namespace"
	"kite/server/registry"
)

// startControllers runs the controllers against this server's API, as
// ordinary clients.
func startControllers(ctx context.Context, config *rest.Config) error {
	config.UserAgent = "kite-controller-manager"
	meta, err := metadata.NewForConfig(config)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	resources := collectedResources()
	var namespaced []schema.GroupVersionResource
	for _, r := range resources {
		if r.Namespaced {
			namespaced = append(namespaced, r.GVR)
		}
	}
	go garbagecollector.New(meta, resources).Run(ctx, 2)
	go namespace.New(client, meta, namespaced).Run(ctx, 2)
	return nil
}

// collectedResources are the stored resources, each storage once (core and
// events.k8s.io Events are the same objects).
func collectedResources() []garbagecollector.Resource {
	seen := map[string]bool{}
	var out []garbagecollector.Resource
	for _, r := range registry.All() {
		if r.Virtual || seen[r.StorageResource] {
			continue
		}
		seen[r.StorageResource] = true
		out = append(out, garbagecollector.Resource{GVR: r.GVR(), Kind: r.Kind, Namespaced: r.Namespaced})
	}
	return out
}
