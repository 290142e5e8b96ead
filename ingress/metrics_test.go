package ingress

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

func TestMetricsDropSeriesOfIngressesNoLongerServed(t *testing.T) {
	shop := types.NamespacedName{Namespace: "default", Name: "shop"}
	blog := types.NamespacedName{Namespace: "default", Name: "blog"}
	unmatched := types.NamespacedName{}
	series := func(k types.NamespacedName) string {
		return `kite_ingress_requests_total{` + labelsOf(k) + `,code="2xx"}`
	}
	cases := []struct {
		name string
		// served is the set of the latest table; nil means no table yet.
		served        []types.NamespacedName
		observe       []types.NamespacedName
		want, notWant []types.NamespacedName
	}{
		{
			name:    "before the first table every series is kept",
			observe: []types.NamespacedName{shop, blog, unmatched},
			want:    []types.NamespacedName{shop, blog, unmatched},
		},
		{
			name:    "a series of a removed Ingress is dropped",
			served:  []types.NamespacedName{shop},
			want:    []types.NamespacedName{shop, unmatched},
			notWant: []types.NamespacedName{blog},
		},
		{
			name:    "a request still in flight for it does not bring it back",
			served:  []types.NamespacedName{shop},
			observe: []types.NamespacedName{blog, shop},
			want:    []types.NamespacedName{shop, unmatched},
			notWant: []types.NamespacedName{blog},
		},
		{
			name:    "a newly served Ingress gets a series again",
			served:  []types.NamespacedName{shop, blog},
			observe: []types.NamespacedName{blog},
			want:    []types.NamespacedName{shop, blog, unmatched},
		},
		{
			name:    "an empty table keeps only the unmatched requests",
			served:  []types.NamespacedName{},
			want:    []types.NamespacedName{unmatched},
			notWant: []types.NamespacedName{shop, blog},
		},
	}
	m := newMetrics()
	for _, c := range cases {
		if c.served != nil {
			set := map[types.NamespacedName]bool{}
			for _, k := range c.served {
				set[k] = true
			}
			m.retain(set)
		}
		for _, k := range c.observe {
			m.observe(k, 200, time.Millisecond)
		}
		out := m.render()
		for _, k := range c.want {
			if !strings.Contains(out, series(k)) {
				t.Errorf("%s: no series for %q in\n%s", c.name, k, out)
			}
		}
		for _, k := range c.notWant {
			if strings.Contains(out, labelsOf(k)) {
				t.Errorf("%s: stale series for %q in\n%s", c.name, k, out)
			}
		}
	}
}

func TestRebuildDropsMetricsOfDeletedIngress(t *testing.T) {
	p, client, _ := startController(t,
		newService("default", "web", "http", 80, 8080),
		newIngress("default", "shop", 0, className("kite"), rule("shop.example.com", "/", prefix, "web", 80)),
		newIngress("default", "blog", 0, className("kite"), rule("blog.example.com", "/", prefix, "web", 80)),
	)
	shop := types.NamespacedName{Namespace: "default", Name: "shop"}
	blog := types.NamespacedName{Namespace: "default", Name: "blog"}
	p.metrics.observe(shop, 200, time.Millisecond)
	p.metrics.observe(blog, 200, time.Millisecond)
	if out := p.metrics.render(); !strings.Contains(out, labelsOf(blog)) {
		t.Fatalf("no series for blog before the delete:\n%s", out)
	}

	if err := client.NetworkingV1().Ingresses("default").Delete(context.Background(), "blog", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the informer to see the delete", func() bool {
		list, _ := p.watch.ingresses.List(labels.Everything())
		return len(list) == 1
	})
	p.rebuild()
	out := p.metrics.render()
	if strings.Contains(out, labelsOf(blog)) {
		t.Errorf("deleted Ingress still in /metrics:\n%s", out)
	}
	if !strings.Contains(out, labelsOf(shop)) {
		t.Errorf("served Ingress lost its series:\n%s", out)
	}
}
