package nftables

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"kite/netproxy"
)

// batch is one transaction for kite's table: the netlink messages the
// kernel applies all together or not at all, each with the nft command
// that means the same, for golden tests, logs and error messages.
type batch struct {
	fam   family
	table string // "ip kite-proxy"
	msgs  []message
	sets  uint32 // sets added so far, for their batch-local ids
	err   error  // the first message that could not be encoded
}

// message is one netlink request of a batch (type and payload after the
// nfgenmsg header) and its nft text.
type message struct {
	kind uint16 // NFT_MSG_*
	data []byte // attributes
	text string
}

func newBatch(f family) *batch { return &batch{fam: f, table: f.table() + " " + tableName} }

// text renders the batch as `nft -f` input.
func (b *batch) text() []byte {
	var sb strings.Builder
	for _, m := range b.msgs {
		sb.WriteString(m.text)
		sb.WriteByte('\n')
	}
	return []byte(sb.String())
}

func (b *batch) push(kind uint16, text string, encode func(ae *netlink.AttributeEncoder)) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	encode(ae)
	data, err := ae.Encode()
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("encode %q: %w", text, err)
		}
		return
	}
	b.msgs = append(b.msgs, message{kind: kind, data: data, text: text})
}

func (b *batch) addTable() {
	b.push(unix.NFT_MSG_NEWTABLE, "add table "+b.table, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_TABLE_NAME, tableName)
	})
}

func (b *batch) deleteTable() {
	b.push(unix.NFT_MSG_DELTABLE, "delete table "+b.table, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_TABLE_NAME, tableName)
	})
}

func (b *batch) addBaseChain(c baseChain) {
	text := fmt.Sprintf("add chain %s %s { type %s hook %s priority %d; policy accept; }", b.table, c.name, c.kind, c.hook, c.priority)
	b.push(unix.NFT_MSG_NEWCHAIN, text, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_CHAIN_TABLE, tableName)
		ae.String(unix.NFTA_CHAIN_NAME, c.name)
		ae.Nested(unix.NFTA_CHAIN_HOOK, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(unix.NFTA_HOOK_HOOKNUM, hookNumbers[c.hook])
			nae.Uint32(unix.NFTA_HOOK_PRIORITY, uint32(c.priority))
			return nil
		})
		ae.Uint32(unix.NFTA_CHAIN_POLICY, nfAccept)
		ae.String(unix.NFTA_CHAIN_TYPE, c.kind)
	})
}

// nfAccept is the netfilter verdict NF_ACCEPT, a base chain's policy.
const nfAccept = 1

var hookNumbers = map[string]uint32{
	"prerouting": unix.NF_INET_PRE_ROUTING, "input": unix.NF_INET_LOCAL_IN, "forward": unix.NF_INET_FORWARD,
	"output": unix.NF_INET_LOCAL_OUT, "postrouting": unix.NF_INET_POST_ROUTING,
}

func (b *batch) chainOp(kind uint16, verb, name string) {
	b.push(kind, verb+" chain "+b.table+" "+name, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_CHAIN_TABLE, tableName)
		ae.String(unix.NFTA_CHAIN_NAME, name)
	})
}

func (b *batch) addChain(name string)    { b.chainOp(unix.NFT_MSG_NEWCHAIN, "add", name) }
func (b *batch) deleteChain(name string) { b.chainOp(unix.NFT_MSG_DELCHAIN, "delete", name) }

// flushChain removes a chain's rules: a rule deletion naming no rule.
func (b *batch) flushChain(name string) {
	b.push(unix.NFT_MSG_DELRULE, "flush chain "+b.table+" "+name, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_RULE_TABLE, tableName)
		ae.String(unix.NFTA_RULE_CHAIN, name)
	})
}

func (b *batch) addRule(chain string, r rule) {
	b.push(unix.NFT_MSG_NEWRULE, "add rule "+b.table+" "+chain+" "+r.text, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_RULE_TABLE, tableName)
		ae.String(unix.NFTA_RULE_CHAIN, chain)
		ae.Nested(unix.NFTA_RULE_EXPRESSIONS, func(nae *netlink.AttributeEncoder) error {
			for _, e := range r.exprs {
				data, err := expr.Marshal(byte(b.fam.nfproto()), e)
				if err != nil {
					return fmt.Errorf("expression %T of %q: %w", e, r.text, err)
				}
				nae.Bytes(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, data)
			}
			return nil
		})
	})
}

// setSpec describes a named set or map of kite's table.
type setSpec struct {
	name       string
	key        nftables.SetDatatype
	verdictMap bool
	timeout    int32 // seconds: a set the rules fill, whose entries expire
}

func (b *batch) addSet(s setSpec) {
	text := fmt.Sprintf("add set %s %s { type %s; }", b.table, s.name, s.key.Name)
	flags := uint32(0)
	switch {
	case s.verdictMap:
		text = fmt.Sprintf("add map %s %s { type %s : verdict; }", b.table, s.name, s.key.Name)
		flags |= unix.NFT_SET_MAP
	case s.timeout > 0:
		text = fmt.Sprintf("add set %s %s { type %s; flags dynamic,timeout; timeout %ds; }", b.table, s.name, s.key.Name, s.timeout)
		flags |= unix.NFT_SET_TIMEOUT | unix.NFT_SET_EVAL
	}
	b.sets++
	id := b.sets
	b.push(unix.NFT_MSG_NEWSET, text, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_SET_TABLE, tableName)
		ae.String(unix.NFTA_SET_NAME, s.name)
		// The kernel wants an id for a set born in the batch.
		ae.Uint32(unix.NFTA_SET_ID, id)
		ae.Uint32(unix.NFTA_SET_FLAGS, flags)
		ae.Uint32(unix.NFTA_SET_KEY_TYPE, s.key.GetNFTMagic())
		ae.Uint32(unix.NFTA_SET_KEY_LEN, s.key.Bytes)
		if s.verdictMap {
			ae.Uint32(unix.NFTA_SET_DATA_TYPE, unix.NFT_DATA_VERDICT)
			ae.Uint32(unix.NFTA_SET_DATA_LEN, 0)
		}
		if s.timeout > 0 {
			ae.Uint64(unix.NFTA_SET_TIMEOUT, uint64(s.timeout)*1000)
		}
	})
}

func (b *batch) deleteSet(name string) {
	b.push(unix.NFT_MSG_DELSET, "delete set "+b.table+" "+name, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.NFTA_SET_TABLE, tableName)
		ae.String(unix.NFTA_SET_NAME, name)
	})
}

// element is one entry of a set or map.
type element struct {
	key     setKey
	verdict string        // map elements only: "goto chain", "drop"
	timeout time.Duration // affinity entries carried into a rebuilt table
	expires time.Duration
	owner   netproxy.ServicePortName // the service port that asked for it
}

func (e element) text() string {
	s := e.key.text
	if e.verdict != "" {
		s += " : " + e.verdict
	}
	if e.timeout > 0 {
		s += fmt.Sprintf(" timeout %ds expires %ds", int(e.timeout.Seconds()), int(e.expires.Seconds()))
	}
	return s
}

// maxElementBytes keeps one element list well inside the 64 KiB a
// netlink attribute can hold.
const maxElementBytes = 48 << 10

// elements adds or deletes elements, as one message per element for
// readable text but packed into few messages for the kernel.
func (b *batch) elements(add bool, set string, elems []element) {
	kind, verb := uint16(unix.NFT_MSG_NEWSETELEM), "add"
	if !add {
		kind, verb = unix.NFT_MSG_DELSETELEM, "delete"
	}
	for len(elems) > 0 {
		n, size := 0, 0
		for n < len(elems) && size < maxElementBytes {
			size += len(elems[n].key.data) + len(elems[n].verdict) + 64
			n++
		}
		chunk := elems[:n]
		elems = elems[n:]
		lines := make([]string, len(chunk))
		for i, e := range chunk {
			body := e.key.text
			if add {
				body = e.text()
			}
			lines[i] = fmt.Sprintf("%s element %s %s { %s }", verb, b.table, set, body)
		}
		b.push(kind, strings.Join(lines, "\n"), func(ae *netlink.AttributeEncoder) {
			ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, tableName)
			ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
			ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(lae *netlink.AttributeEncoder) error {
				for _, e := range chunk {
					lae.Nested(unix.NFTA_LIST_ELEM, func(eae *netlink.AttributeEncoder) error {
						encodeElement(eae, e, add)
						return nil
					})
				}
				return nil
			})
		})
	}
}

func encodeElement(ae *netlink.AttributeEncoder, e element, add bool) {
	ae.Nested(unix.NFTA_SET_ELEM_KEY, func(kae *netlink.AttributeEncoder) error {
		kae.Bytes(unix.NFTA_DATA_VALUE, e.key.data)
		return nil
	})
	if !add {
		return
	}
	if e.verdict != "" {
		v := parseVerdict(e.verdict)
		ae.Nested(unix.NFTA_SET_ELEM_DATA, func(dae *netlink.AttributeEncoder) error {
			dae.Nested(unix.NFTA_DATA_VERDICT, func(vae *netlink.AttributeEncoder) error {
				vae.Int32(unix.NFTA_VERDICT_CODE, int32(v.Kind))
				if v.Chain != "" {
					vae.String(unix.NFTA_VERDICT_CHAIN, v.Chain)
				}
				return nil
			})
			return nil
		})
	}
	if e.timeout > 0 {
		ae.Uint64(unix.NFTA_SET_ELEM_TIMEOUT, uint64(e.timeout.Milliseconds()))
		ae.Uint64(unix.NFTA_SET_ELEM_EXPIRATION, uint64(e.expires.Milliseconds()))
	}
}
