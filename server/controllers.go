package server

import (
	"context"

	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"kite/server/controllers/garbagecollector"
	"kite/server/registry"
)

// startControllers runs the controllers against this server's API, as
// ordinary clients.
func startControllers(ctx context.Context, config *rest.Config) error {
	config.UserAgent = "kite-garbage-collector"
	meta, err := metadata.NewForConfig(config)
	if err != nil {
		return err
	}
	go garbagecollector.New(meta, collectedResources()).Run(ctx, 2)
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
