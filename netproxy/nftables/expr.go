package nftables

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

// rule is one rule as the kernel gets it (exprs) and as a person reads it
// (text, in nft syntax). Both come from the same builder calls, and a root
// test feeds the text to nft to prove the two say the same.
type rule struct {
	text    string
	exprs   []expr.Any
	encoded attrs // exprs as the kernel gets them, once a batch wrote the rule
}

// ruleBuilder appends matches and statements, each with its text.
type ruleBuilder struct {
	parts []string
	exprs []expr.Any
}

func newRule() *ruleBuilder { return &ruleBuilder{} }

func (b *ruleBuilder) add(text string, e ...expr.Any) *ruleBuilder {
	b.parts = append(b.parts, text)
	b.exprs = append(b.exprs, e...)
	return b
}

func (b *ruleBuilder) rule() rule { return rule{text: strings.Join(b.parts, " "), exprs: b.exprs} }

// Registers: reg1 is the first 16-byte register; concatenations continue
// in 4-byte registers, each part padded to a multiple of 4 bytes.
const reg1 = unix.NFT_REG_1

func reg32After(bytes int) uint32 { return unix.NFT_REG32_00 + uint32((bytes+3)/4) }

// Offsets of the address fields in the IPv4 and IPv6 headers.
func (f family) addrOffsets() (saddr, daddr, size uint32) {
	if f.ipv6 {
		return 8, 24, 16
	}
	return 12, 16, 4
}

func (f family) loadAddr(field string, reg uint32) *expr.Payload {
	s, d, size := f.addrOffsets()
	off := s
	if field == "daddr" {
		off = d
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size}
}

func (f family) nfproto() uint32 {
	if f.ipv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// addrIs matches "ip saddr 10.0.0.1", "ip daddr != 10.42.0.0/16" and the like.
func (b *ruleBuilder) addrIs(f family, field string, not bool, p netip.Prefix) *ruleBuilder {
	op, word := expr.CmpOpEq, ""
	if not {
		op, word = expr.CmpOpNeq, "!= "
	}
	text := f.table() + " " + field + " " + word + prefixText(p)
	exprs := []expr.Any{f.loadAddr(field, reg1)}
	if p.Bits() < p.Addr().BitLen() {
		mask := netip.PrefixFrom(p.Addr(), p.Bits()).Masked()
		exprs = append(exprs, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: uint32(len(p.Addr().AsSlice())),
			Mask: prefixMask(p), Xor: make([]byte, len(p.Addr().AsSlice()))})
		p = mask
	}
	exprs = append(exprs, &expr.Cmp{Op: op, Register: reg1, Data: p.Addr().AsSlice()})
	return b.add(text, exprs...)
}

func prefixText(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func prefixMask(p netip.Prefix) []byte {
	mask := make([]byte, len(p.Addr().AsSlice()))
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

func protoNumber(p v1.Protocol) byte {
	switch p {
	case v1.ProtocolUDP:
		return unix.IPPROTO_UDP
	case v1.ProtocolSCTP:
		return unix.IPPROTO_SCTP
	}
	return unix.IPPROTO_TCP
}

func portBytes(port int32) []byte { return binaryutil.BigEndian.PutUint16(uint16(port)) }

func l4protoIs(p v1.Protocol) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoNumber(p)}},
	}
}

// l4proto matches "meta l4proto tcp".
func (b *ruleBuilder) l4proto(p v1.Protocol) *ruleBuilder {
	return b.add("meta l4proto "+protoName(p), l4protoIs(p)...)
}

// flagsTest matches "mask != 0" (any flag set) or "mask == 0" (none set)
// on a 32-bit value in host byte order already loaded into reg1.
func flagsTest(mask uint32, anySet bool) []expr.Any {
	op := expr.CmpOpEq
	if anySet {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(mask), Xor: native32(0)},
		&expr.Cmp{Op: op, Register: reg1, Data: native32(0)},
	}
}

func native32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// Conntrack state and status bits.
const (
	ctStateEstablished = 1 << 1
	ctStateRelated     = 1 << 2
	ctStateNew         = 1 << 3
	ctStatusDNAT       = 1 << 5 // IPS_DST_NAT
)

// ctStateNew matches "ct state new".
func (b *ruleBuilder) ctStateNew() *ruleBuilder {
	return b.add("ct state new", append([]expr.Any{&expr.Ct{Key: expr.CtKeySTATE, Register: reg1}}, flagsTest(ctStateNew, true)...)...)
}

// ctNotTracked matches packets of no established or related connection.
func (b *ruleBuilder) ctNotEstablished() *ruleBuilder {
	return b.add("ct state & (established | related) == 0",
		append([]expr.Any{&expr.Ct{Key: expr.CtKeySTATE, Register: reg1}}, flagsTest(ctStateEstablished|ctStateRelated, false)...)...)
}

// ctDNAT matches connections with (or, when not, without) a DNAT binding.
func (b *ruleBuilder) ctDNAT(set bool) *ruleBuilder {
	text := "ct status dnat"
	if !set {
		text = "ct status & dnat == 0"
	}
	return b.add(text, append([]expr.Any{&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1}}, flagsTest(ctStatusDNAT, set)...)...)
}

// fibLocal matches "fib saddr type local" or "fib daddr type local".
func (b *ruleBuilder) fibLocal(field string) *ruleBuilder {
	return b.add("fib "+field+" type local",
		&expr.Fib{Register: reg1, ResultADDRTYPE: true, FlagSADDR: field == "saddr", FlagDADDR: field == "daddr"},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native32(unix.RTN_LOCAL)})
}

// markMasq adds the masquerade bit: "meta mark set meta mark | 0x4000".
func (b *ruleBuilder) markMasq() *ruleBuilder {
	return b.add("meta mark set meta mark | "+masqMark, markUpdate(^uint32(masqMarkBit), masqMarkBit)...)
}

// clearMasq flips the bit back: "meta mark set meta mark ^ 0x4000".
func (b *ruleBuilder) clearMasq() *ruleBuilder {
	return b.add("meta mark set meta mark ^ "+masqMark, markUpdate(^uint32(0), masqMarkBit)...)
}

func markUpdate(mask, xor uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(mask), Xor: native32(xor)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

// notMarked matches "meta mark & 0x4000 == 0".
func (b *ruleBuilder) notMarked() *ruleBuilder {
	return b.add("meta mark & "+masqMark+" == 0",
		append([]expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1}}, flagsTest(masqMarkBit, false)...)...)
}

// numgenIs matches "numgen random mod n == 0".
func (b *ruleBuilder) numgenIs(n int) *ruleBuilder {
	return b.add("numgen random mod "+strconv.Itoa(n)+" == 0",
		&expr.Numgen{Register: reg1, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native32(0)})
}

// inSet matches "ip saddr @set".
func (b *ruleBuilder) inSet(f family, field, set string) *ruleBuilder {
	return b.add(f.table()+" "+field+" @"+set, f.loadAddr(field, reg1), &expr.Lookup{SourceRegister: reg1, SetName: set})
}

// pairInSet matches "ip saddr . ip daddr @set".
func (b *ruleBuilder) pairInSet(f family, set string) *ruleBuilder {
	_, _, size := f.addrOffsets()
	x := f.table()
	return b.add(x+" saddr . "+x+" daddr @"+set,
		f.loadAddr("saddr", reg1), f.loadAddr("daddr", reg32After(int(size))),
		&expr.Lookup{SourceRegister: reg1, SetName: set})
}

// serviceVmap dispatches on "ip daddr . meta l4proto . th dport", or on
// "meta l4proto . th dport" without an address, through a verdict map.
func (b *ruleBuilder) serviceVmap(f family, withAddr bool, set string) *ruleBuilder {
	var exprs []expr.Any
	var text []string
	next := uint32(reg1)
	used := 0
	if withAddr {
		_, _, size := f.addrOffsets()
		exprs = append(exprs, f.loadAddr("daddr", next))
		text = append(text, f.table()+" daddr")
		used = int(size)
		next = reg32After(used)
	}
	exprs = append(exprs, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next})
	used += 4
	next = reg32After(used)
	exprs = append(exprs, &expr.Payload{DestRegister: next, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: set, IsDestRegSet: true, DestRegister: 0})
	text = append(text, "meta l4proto", "th dport")
	return b.add(strings.Join(text, " . ")+" vmap @"+set, exprs...)
}

// updateSet records the source address: "update @set { ip saddr }".
func (b *ruleBuilder) updateSet(f family, set string) *ruleBuilder {
	return b.add("update @"+set+" { "+f.table()+" saddr }",
		f.loadAddr("saddr", reg1), &expr.Dynset{SrcRegKey: reg1, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE})
}

// dnat translates to one endpoint: "dnat to 10.42.0.2:8080".
func (b *ruleBuilder) dnat(f family, ep netip.AddrPort) *ruleBuilder {
	return b.add("dnat to "+ep.String(),
		&expr.Immediate{Register: reg1, Data: ep.Addr().AsSlice()},
		&expr.Immediate{Register: unix.NFT_REG_2, Data: portBytes(int32(ep.Port()))},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto(), RegAddrMin: reg1, RegProtoMin: unix.NFT_REG_2})
}

// dnatSlot translates to the endpoint of a random one of n slots from
// base on: "dnat ip to numgen random mod n offset base map @set".
func (b *ruleBuilder) dnatSlot(f family, n int, base uint32, set string) *ruleBuilder {
	text := "dnat " + f.table() + " to numgen random mod " + strconv.Itoa(n)
	if base != 0 {
		text += " offset " + strconv.FormatUint(uint64(base), 10)
	}
	_, _, size := f.addrOffsets()
	port := reg32After(int(size))
	return b.add(text+" map @"+set,
		&expr.Numgen{Register: reg1, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM, Offset: base},
		&expr.Lookup{SourceRegister: reg1, SetName: set, IsDestRegSet: true, DestRegister: reg1},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto(), RegAddrMin: reg1, RegAddrMax: reg1,
			RegProtoMin: port, RegProtoMax: port, Specified: true})
}

func (b *ruleBuilder) masquerade() *ruleBuilder {
	return b.add("masquerade fully-random", &expr.Masq{FullyRandom: true})
}

// reject answers TCP with a reset ("reject with tcp reset") and the rest
// with port unreachable ("reject").
func (b *ruleBuilder) reject(f family, tcpReset bool) *ruleBuilder {
	if tcpReset {
		return b.add("reject with tcp reset", &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	}
	code := uint8(3) // ICMP port unreachable
	if f.ipv6 {
		code = 4 // ICMPv6 port unreachable
	}
	return b.add("reject", &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code})
}

// verdict ends the rule: "accept", "drop", "return", "jump c", "goto c".
func (b *ruleBuilder) verdict(text string) *ruleBuilder {
	return b.add(text, parseVerdict(text))
}

// parseVerdict turns verdict text, as rules and map elements write it,
// into the kernel's form.
func parseVerdict(text string) *expr.Verdict {
	word, chain, _ := strings.Cut(text, " ")
	switch word {
	case "goto":
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}
	case "jump":
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}
	case "return":
		return &expr.Verdict{Kind: expr.VerdictReturn}
	case "accept":
		return &expr.Verdict{Kind: expr.VerdictAccept}
	}
	return &expr.Verdict{Kind: expr.VerdictDrop}
}
