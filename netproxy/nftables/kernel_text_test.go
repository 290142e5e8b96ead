package nftables

import (
	"os/exec"
	"strings"
	"testing"

	"kite/netproxy/internal/proxytest"
)

// TestTextMatchesKernel proves the text the golden files show is what the
// kernel gets: nft loading the text and the backend sending its netlink
// batch must leave tables that nft lists identically.
func TestTextMatchesKernel(t *testing.T) {
	proxytest.SkipUnlessRoot(t, "creates network namespaces and writes nftables rules inside them", "ip", "nft")
	node := proxytest.NewNetns(t, "kite-nft-"+proxytest.RandomSuffix(t))
	first, second, changed := partialFixture()
	cases := goldenStates()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r := renderer{family: family{ipv6: tt.ipv6}}
			tx := r.render(tt.state, nil, nil, nil)
			fromText, fromNetlink := loadBoth(t, node, tx.batch)
			if fromText != fromNetlink {
				t.Errorf("nft -f of the text lists\n%s\nthe netlink batch lists\n%s", fromText, fromNetlink)
			}
		})
	}
	t.Run("moved and scaled endpoints", func(t *testing.T) {
		first, moved, scaled, changed := slotFixture()
		r := renderer{}
		tx1 := r.render(first, nil, nil, nil)
		tx2 := r.render(moved, changed, tx1.next, nil)
		tx3 := r.render(scaled, changed, tx2.next, nil)
		fromText, fromNetlink := loadBoth(t, node, tx3.batch, tx1.batch, tx2.batch)
		if fromText != fromNetlink {
			t.Errorf("nft -f of the text lists\n%s\nthe netlink batch lists\n%s", fromText, fromNetlink)
		}
	})
	t.Run("partial", func(t *testing.T) {
		r := renderer{}
		tx1 := r.render(first, nil, nil, nil)
		tx2 := r.render(second, changed, tx1.next, nil)
		fromText, fromNetlink := loadBoth(t, node, tx2.batch, tx1.batch)
		if fromText != fromNetlink {
			t.Errorf("nft -f of the text lists\n%s\nthe netlink batch lists\n%s", fromText, fromNetlink)
		}
	})
}

// loadBoth applies b (after the setup batches) once as nft text and once
// over netlink, and returns both listings of the table.
func loadBoth(t *testing.T, ns *proxytest.Netns, b *batch, setup ...*batch) (fromText, fromNetlink string) {
	t.Helper()
	list := func() string { return ns.Exec("nft", "list", "table", b.fam.table(), tableName) }
	apply := func(x *batch) {
		cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(string(x.text()))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -f: %v: %s", err, out)
		}
	}
	for _, s := range setup {
		apply(s)
	}
	apply(b)
	fromText = list()
	for _, s := range setup {
		if err := ns.Do(s.send); err != nil {
			t.Fatalf("netlink setup batch: %v", err)
		}
	}
	if err := ns.Do(b.send); err != nil {
		t.Fatalf("netlink batch: %v", err)
	}
	fromNetlink = list()
	ns.Exec("nft", "delete", "table", b.fam.table(), tableName)
	return fromText, fromNetlink
}
