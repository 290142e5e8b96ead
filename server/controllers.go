package server

import (
	"context"
	"net"
	"os"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"kite/server/controllers"
	"kite/server/controllers/cronjob"
	"kite/server/controllers/daemonset"
	"kite/server/controllers/deployment"
	"kite/server/controllers/endpoints"
	"kite/server/controllers/endpointslice"
	"kite/server/controllers/garbagecollector"
	"kite/server/controllers/ingressstatus"
	"kite/server/controllers/job"
	"kite/server/controllers/namespace"
	"kite/server/controllers/nodeipam"
	"kite/server/controllers/nodelifecycle"
	"kite/server/controllers/persistentvolume"
	"kite/server/controllers/podgc"
	"kite/server/controllers/replicaset"
	"kite/server/controllers/resourcequota"
	"kite/server/controllers/rootcacert"
	"kite/server/controllers/serviceaccount"
	"kite/server/controllers/servicelb"
	"kite/server/controllers/statefulset"
	"kite/server/controllers/ttlafterfinished"
	"kite/server/registry"
	"kite/server/scheduler"
)

// startControlPlane runs the controllers and the scheduler against this
// server's API, as ordinary clients, each behind its Lease in kube-system
// (kube-controller-manager, kube-scheduler) so that of several servers
// only one acts. They share one set of informers.
func startControlPlane(ctx context.Context, config *rest.Config, cfg Config) error {
	cc, err := controllers.NewContext(ctx, config)
	if err != nil {
		return err
	}
	timing := cfg.LeaderElection
	if timing == (controllers.LeaderElection{}) {
		timing = controllers.DefaultLeaderElection
	}
	// Every namespace gets the cluster CA in kube-root-ca.crt.
	caPEM, err := os.ReadFile(config.TLSClientConfig.CAFile)
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
	if !cfg.DisableScheduler {
		go controllers.Lead(ctx, cc.Client, "kube-scheduler", timing, func(term context.Context) {
			cc.Run(term, scheduler.New(cc))
		})
	}
	if cfg.DisableControllerManager {
		return nil
	}
	ipam := nodeipam.Config{ClusterCIDRs: []*net.IPNet{cfg.ClusterCIDR}, ServiceCIDRs: []*net.IPNet{cfg.ServiceCIDR}}
	if err := ipam.Validate(); err != nil {
		return err
	}
	go controllers.Lead(ctx, cc.Client, "kube-controller-manager", timing, func(term context.Context) {
		runners := []controllers.Runner{
			garbagecollector.New(cc, resources),
			namespace.New(cc, namespaced),
			replicaset.New(cc),
			deployment.New(cc),
			statefulset.New(cc),
			daemonset.New(cc),
			job.New(cc),
			cronjob.New(cc),
			ttlafterfinished.New(cc),
			endpoints.New(cc),
			endpointslice.New(cc),
			serviceaccount.New(cc),
			rootcacert.New(cc, caPEM),
			nodelifecycle.New(cc),
			nodeipam.New(cc, ipam),
			nodelifecycle.NewTaintEviction(cc),
			podgc.New(cc),
			resourcequota.New(cc),
			persistentvolume.New(cc),
		}
		// ServiceLB publishes node addresses for LoadBalancer Services,
		// which every node's service proxy then answers on.
		// The built-in ingress answers on 80 and 443 of every node: the
		// Ingresses it serves show the nodes' addresses, and no
		// LoadBalancer may take its ports.
		ingressOn := !slices.Contains(cfg.Disable, "ingress")
		if ingressOn {
			runners = append(runners, ingressstatus.New(cc))
		}
		if !slices.Contains(cfg.Disable, "servicelb") {
			var reserved []int32
			if ingressOn {
				reserved = []int32{80, 443}
			}
			runners = append(runners, servicelb.New(cc, reserved...))
		}
		cc.Run(term, runners...)
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
