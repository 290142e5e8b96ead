package nftables

import "encoding/binary"

// typeofDecl declares a set by the expressions that fill it, as nft's
// "typeof" does. The kernel only checks sizes; nft keeps the expressions
// in the set's user data and prints the declaration from them, so a set
// written over netlink lists exactly like one nft loaded from the text.
type typeofDecl struct {
	text  string
	udata []byte
}

// User data of a set, as nft writes it: type-length-value records with a
// one-byte type and length, values in host byte order.
const (
	udataKeyByteorder  = 0
	udataDataByteorder = 1
	udataKeyTypeof     = 3
	udataDataTypeof    = 4
	udataDataInterval  = 6

	// Inside a typeof record: the expression kind and its description.
	udataTypeofExpr = 0
	udataTypeofData = 1

	// nft's expression kinds and their description records.
	exprKindPayload = 7
	exprKindConcat  = 13
	exprKindNumgen  = 23
	numgenType      = 0
	numgenModulus   = 1
	numgenOffset    = 2
	payloadDesc     = 0
	payloadField    = 1

	// nft's protocol descriptions and header fields.
	protoDescTCP  = 8
	protoDescIP   = 12
	protoDescIP6  = 13
	ipDaddrField  = 12
	ip6DaddrField = 9
	tcpDportField = 2

	byteorderHost = 1
	numgenRandom  = 1
)

// udataWriter appends nft user data records.
type udataWriter []byte

func (w udataWriter) u32(kind byte, v uint32) udataWriter {
	return binary.NativeEndian.AppendUint32(append(w, kind, 4), v)
}

func (w udataWriter) nest(kind byte, inner udataWriter) udataWriter {
	return append(append(w, kind, byte(len(inner))), inner...)
}

func typeofExpr(kind uint32, data udataWriter) udataWriter {
	return udataWriter{}.u32(udataTypeofExpr, kind).nest(udataTypeofData, data)
}

func payloadTypeof(desc, field uint32) udataWriter {
	return typeofExpr(exprKindPayload, udataWriter{}.u32(payloadDesc, desc).u32(payloadField, field))
}

// slotsTypeof is an endpoint slot map's declaration: a random draw to an
// address and port. The declaration names tcp, but the data type is the
// port of any protocol.
func (f family) slotsTypeof() *typeofDecl {
	addr := payloadTypeof(protoDescIP, ipDaddrField)
	if f.ipv6 {
		addr = payloadTypeof(protoDescIP6, ip6DaddrField)
	}
	key := typeofExpr(exprKindNumgen, udataWriter{}.u32(numgenType, numgenRandom).u32(numgenModulus, 2).u32(numgenOffset, 0))
	data := typeofExpr(exprKindConcat, udataWriter{}.nest(0, addr).nest(1, payloadTypeof(protoDescTCP, tcpDportField)))
	udata := udataWriter{}.u32(udataKeyByteorder, byteorderHost).u32(udataDataByteorder, 0).
		nest(udataKeyTypeof, key).nest(udataDataTypeof, data).u32(udataDataInterval, 0)
	return &typeofDecl{text: "typeof numgen random mod 2 : " + f.table() + " daddr . tcp dport", udata: udata}
}
