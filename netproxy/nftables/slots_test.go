package nftables

import (
	"encoding/hex"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"kite/netproxy"
	"kite/netproxy/internal/proxytest"
)

// slotFixture is a three-endpoint service, the same with one endpoint
// moved, and the same scaled down to two.
func slotFixture() (first, moved, scaled *netproxy.State, changed map[netproxy.ServicePortName]bool) {
	api := proxytest.ServicePort("api", "", v1.ProtocolTCP, "10.43.0.30", 80,
		proxytest.WithEndpoints("10.42.0.2:8080@node-a", "10.42.0.3:8080@node-a", "10.42.1.4:8080@node-b"))
	db := proxytest.ServicePort("db", "", v1.ProtocolTCP, "10.43.0.31", 5432,
		proxytest.WithEndpoints("10.42.1.7:5432@node-b", "10.42.1.8:5432@node-b"))
	apiMoved, apiScaled := *api, *api
	apiMoved.Endpoints = proxytest.Endpoints("10.42.0.2:8080@node-a", "10.42.0.9:8080@node-a", "10.42.1.4:8080@node-b")
	apiScaled.Endpoints = proxytest.Endpoints("10.42.0.2:8080@node-a", "10.42.1.4:8080@node-b")
	return proxytest.State(api, db), proxytest.State(&apiMoved, db), proxytest.State(&apiScaled, db),
		map[netproxy.ServicePortName]bool{api.Name: true}
}

func TestMovedEndpointChangesOnlyItsSlot(t *testing.T) {
	first, moved, scaled, changed := slotFixture()
	r := renderer{}
	tx1 := r.render(first, nil, nil, nil)
	name := moved.Sorted()[0].Name
	slots := slotMap(name)

	tx2 := r.render(moved, changed, tx1.next, nil)
	want := "delete element ip kite-proxy hairpin-endpoints { 10.42.0.3 . 10.42.0.3 }\n" +
		"delete element ip kite-proxy " + slots + " { 1 }\n" +
		"add element ip kite-proxy hairpin-endpoints { 10.42.0.9 . 10.42.0.9 }\n" +
		"add element ip kite-proxy " + slots + " { 1 : 10.42.0.9 . 8080 }\n"
	if got := string(tx2.batch.text()); got != want {
		t.Errorf("moving one endpoint wrote\n%s\nwant only its slot and hairpin entry:\n%s", got, want)
	}

	// Scaling down draws from fewer slots: the rule changes and the
	// port's slots move to a new block, the old ones go.
	tx3 := r.render(scaled, changed, tx2.next, nil)
	p := string(tx3.batch.text())
	for _, line := range []string{
		"flush chain ip kite-proxy " + serviceChain(name) + "\n",
		"meta l4proto tcp dnat ip to numgen random mod 2 offset 5 map @" + slots + "\n",
		"delete element ip kite-proxy " + slots + " { 0 }\n",
		"add element ip kite-proxy " + slots + " { 5 : 10.42.0.2 . 8080 }\n",
		"add element ip kite-proxy " + slots + " { 6 : 10.42.1.4 . 8080 }\n",
	} {
		if !strings.Contains(p, line) {
			t.Errorf("scaling down lacks %q:\n%s", line, p)
		}
	}
	if strings.Contains(p, "10.42.1.7") || strings.Contains(p, serviceChain(moved.Sorted()[1].Name)) {
		t.Errorf("scaling api touched db:\n%s", p)
	}

	// A full sync after all this keeps every port's slots.
	full := string(r.render(scaled, nil, tx3.next, nil).batch.text())
	for _, line := range []string{"add element ip kite-proxy " + slots + " { 5 : 10.42.0.2 . 8080 }\n",
		"offset 3 map @" + slotMap(moved.Sorted()[1].Name) + "\n"} {
		if !strings.Contains(full, line) {
			t.Errorf("full sync after partial ones lacks %q:\n%s", line, full)
		}
	}
}

// TestSlotsTypeofAsNftWritesIt compares the slot map's user data with
// what nft 1.0.6 stores for the same typeof declaration, so nft lists the
// map as its text says.
func TestSlotsTypeofAsNftWritesIt(t *testing.T) {
	for _, tt := range []struct {
		f    family
		want string
	}{
		{family{}, "000401000000010400000000031a0004170000000112000401000000010402000000020400000000" +
			"04340004" + "0d000000012c0014000407000000010c00040c00000001040c000000" +
			"01140004070000000" + "10c0004080000000104020000000604" + "00000000"},
		{family{ipv6: true}, "000401000000010400000000031a0004170000000112000401000000010402000000020400000000" +
			"04340004" + "0d000000012c0014000407000000010c00040d000000010409000000" +
			"01140004070000000" + "10c0004080000000104020000000604" + "00000000"},
	} {
		if got := hex.EncodeToString(tt.f.slotsTypeof().udata); got != tt.want {
			t.Errorf("%s user data\n got %s\nwant %s", tt.f.table(), got, tt.want)
		}
	}
}
