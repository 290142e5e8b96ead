package nftables

import (
	"net/netip"
	"strconv"

	"github.com/google/nftables"
	v1 "k8s.io/api/core/v1"
)

// setKey is a set element's key as nft prints it and as the kernel holds
// it: the parts of a concatenation each padded to 4 bytes.
type setKey struct {
	text string
	data []byte
}

func pad4(b []byte) []byte { return append(b, make([]byte, align4(len(b))-len(b))...) }

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

// hairpinKey is "10.42.0.2 . 10.42.0.2".
func hairpinKey(ip netip.Addr) setKey {
	return setKey{text: ip.String() + " . " + ip.String(), data: append(ip.AsSlice(), ip.AsSlice()...)}
}

func addrKey(ip netip.Addr) setKey { return setKey{text: ip.String(), data: ip.AsSlice()} }

// mapSpec is the declaration of one of the fixed maps and sets.
func (f family) mapSpec(name string) setSpec {
	switch name {
	case serviceNodePortsMap, noEndpointNodePortsMap:
		return setSpec{name: name, verdictMap: true, key: nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)}
	case hairpinSet:
		return setSpec{name: name, key: nftables.MustConcatSetType(f.addrType(), f.addrType())}
	}
	return setSpec{name: name, verdictMap: true,
		key: nftables.MustConcatSetType(f.addrType(), nftables.TypeInetProto, nftables.TypeInetService)}
}
