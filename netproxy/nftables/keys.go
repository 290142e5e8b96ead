package nftables

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	v1 "k8s.io/api/core/v1"
)

// setKey is a set element's key as nft prints it and as the kernel holds
// it: the parts of a concatenation each padded to 4 bytes.
type setKey struct {
	text string
	data []byte
}

func pad4(b []byte) []byte { return append(b, make([]byte, (len(b)+3)&^3-len(b))...) }

// servicePortKey is "10.43.0.5 . tcp . 80".
func servicePortKey(ip netip.Addr, p v1.Protocol, port int32) setKey {
	k := protoPortKey(p, port)
	return setKey{text: ip.String() + " . " + k.text, data: append(ip.AsSlice(), k.data...)}
}

// protoPortKey is "tcp . 30080".
func protoPortKey(p v1.Protocol, port int32) setKey {
	return setKey{text: protoName(p) + " . " + strconv.Itoa(int(port)),
		data: append(pad4([]byte{protoNumber(p)}), pad4(portBytes(port))...)}
}

// hairpinKey is "10.42.0.2 . 10.42.0.2". Keys like it are made for every
// endpoint of every service, so they are built without temporaries.
func hairpinKey(ip netip.Addr) setKey {
	text := make([]byte, 0, 2*len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")+3)
	text = append(ip.AppendTo(text), " . "...)
	text = ip.AppendTo(text)
	data := make([]byte, 0, 2*ip.BitLen()/8)
	data = appendAddr(appendAddr(data, ip), ip)
	return setKey{text: string(text), data: data}
}

// appendAddr appends ip's bytes without the slice AsSlice allocates.
func appendAddr(b []byte, ip netip.Addr) []byte {
	if ip.Is4() {
		a := ip.As4()
		return append(b, a[:]...)
	}
	a := ip.As16()
	return append(b, a[:]...)
}

func addrKey(ip netip.Addr) setKey { return setKey{text: ip.String(), data: ip.AsSlice()} }

// slotKey is a slot number of an endpoint slot map, in host byte order as
// numgen writes it.
func slotKey(slot uint32) setKey {
	return setKey{text: strconv.FormatUint(uint64(slot), 10), data: binary.NativeEndian.AppendUint32(nil, slot)}
}

// endpointValue is "10.42.0.2 . 8080", what a slot translates to.
func endpointValue(ep netip.AddrPort) setKey {
	text := make([]byte, 0, len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff . 65535"))
	text = append(ep.Addr().AppendTo(text), " . "...)
	text = strconv.AppendUint(text, uint64(ep.Port()), 10)
	data := make([]byte, 0, ep.Addr().BitLen()/8+4)
	data = binary.BigEndian.AppendUint16(appendAddr(data, ep.Addr()), ep.Port())
	return setKey{text: string(text), data: append(data, 0, 0)}
}

// mapSpec is the declaration of one of the fixed maps and sets.
func (f family) mapSpec(name string) setSpec {
	if strings.HasPrefix(name, slotMapPrefix) {
		return setSpec{name: name, key: nftables.TypeInteger,
			data: nftables.MustConcatSetType(f.addrType(), nftables.TypeInetService), typeof: f.slotsTypeof()}
	}
	switch name {
	case serviceNodePortsMap, noEndpointNodePortsMap:
		return setSpec{name: name, verdictMap: true, key: nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)}
	case hairpinSet:
		return setSpec{name: name, key: nftables.MustConcatSetType(f.addrType(), f.addrType())}
	}
	return setSpec{name: name, verdictMap: true,
		key: nftables.MustConcatSetType(f.addrType(), nftables.TypeInetProto, nftables.TypeInetService)}
}
