package server

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"kite/server/controllers"
	"kite/server/controllers/garbagecollector"
	"kite/server/controllers/namespace"
	"kite/server/registry"
)

// startControlPlane runs the controllers against this server's API, as
// ordinary clients, each behind its Lease in kube-system so that of
// several servers only one acts.
func startControlPlane(ctx context.Context, config *rest.Config, cfg Config) error {
	config.UserAgent = "kite-controller-manager"
	cc, err := controllers.NewContext(ctx, config)
	if err != nil {
		return err
	}
	timing := cfg.LeaderElection
	if timing == (controllers.LeaderElection{}) {
		timing = controllers.DefaultLeaderElection
	}
	resources := collectedResources()
	var namespaced []schema.GroupVersionResource
	for _, r := range resources {
		if r.Namespaced {
			namespaced = append(namespaced, r.GVR)
		}
	}
	go controllers.Lead(ctx, cc.Client, "kube-controller-manager", timing, func(term context.Context) {
		cc.Run(term,
			garbagecollector.New(cc, resources),
			namespace.New(cc, namespaced),
		)
	})
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
