package nftables

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"kite/netproxy"
)

// batch is one transaction for kite's table: the netlink requests the
// kernel applies all together or not at all, written back to back into one
// buffer the way they go on the wire, each with the nft command that means
// the same, for golden tests, logs and error messages.
type batch struct {
	fam   family
	table string // "ip kite-proxy"
	buf   attrs  // the requests; send fills in their sequence numbers
	msgs  []message
	sets  uint32 // sets added so far, for their batch-local ids
	err   error  // the first request that could not be encoded
}

// message is one request of a batch: where it starts in buf and what it
// says in nft's words. Rules and elements keep what their text is made
// of, and build it only when asked: a full sync has some 100,000.
type message struct {
	start  int
	kind   uint16 // NFT_MSG_*
	text   string // the command, unless one of the following says it
	object string // a rule's chain, or an element request's set
	rule   *rule
	elems  []*element
	add    bool // elements added rather than deleted
}

func newBatch(f family) *batch { return &batch{fam: f, table: f.table() + " " + tableName} }

// text renders the batch as `nft -f` input.
func (b *batch) text() []byte {
	var sb strings.Builder
	for i := range b.msgs {
		sb.WriteString(b.describe(i))
		sb.WriteByte('\n')
	}
	return []byte(sb.String())
}

// describe is the nft command of request i, a line per element for
// element requests.
func (b *batch) describe(i int) string {
	m := b.msgs[i]
	switch {
	case m.rule != nil:
		return "add rule " + b.table + " " + m.object + " " + m.rule.text
	case m.elems != nil:
		lines := make([]string, len(m.elems))
		for j, e := range m.elems {
			if m.add {
				lines[j] = fmt.Sprintf("add element %s %s { %s }", b.table, m.object, e.text())
			} else {
				lines[j] = fmt.Sprintf("delete element %s %s { %s }", b.table, m.object, e.key.text)
			}
		}
		return strings.Join(lines, "\n")
	}
	return m.text
}

// begin starts a request; its length is set by finish, its sequence
// number by send.
func (b *batch) begin(m message) {
	m.start = len(b.buf)
	flags := uint16(unix.NLM_F_REQUEST)
	switch m.kind {
	case unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_NEWSET, unix.NFT_MSG_NEWSETELEM:
		flags |= unix.NLM_F_CREATE
	case unix.NFT_MSG_NEWRULE:
		flags |= unix.NLM_F_CREATE | unix.NLM_F_APPEND
	}
	b.buf = binary.NativeEndian.AppendUint32(b.buf, 0)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, unix.NFNL_SUBSYS_NFTABLES<<8|m.kind)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, flags)
	b.buf = binary.NativeEndian.AppendUint32(b.buf, 0) // sequence number
	b.buf = binary.NativeEndian.AppendUint32(b.buf, 0) // port id
	b.buf = append(b.buf, byte(b.fam.nfproto()), unix.NFNETLINK_V0, 0, 0)
	b.msgs = append(b.msgs, m)
}

func (b *batch) finish() {
	m := b.msgs[len(b.msgs)-1]
	binary.NativeEndian.PutUint32(b.buf[m.start:], uint32(len(b.buf)-m.start))
}

// nlHeaderLen is the netlink and nfgenmsg header of every request.
const nlHeaderLen = unix.NLMSG_HDRLEN + 4

func (b *batch) addTable() {
	b.begin(message{kind: unix.NFT_MSG_NEWTABLE, text: "add table " + b.table})
	b.buf = b.buf.str(unix.NFTA_TABLE_NAME, tableName)
	b.finish()
}

func (b *batch) deleteTable() {
	b.begin(message{kind: unix.NFT_MSG_DELTABLE, text: "delete table " + b.table})
	b.buf = b.buf.str(unix.NFTA_TABLE_NAME, tableName)
	b.finish()
}

func (b *batch) addBaseChain(c baseChain) {
	text := fmt.Sprintf("add chain %s %s { type %s hook %s priority %d; policy accept; }", b.table, c.name, c.kind, c.hook, c.priority)
	b.begin(message{kind: unix.NFT_MSG_NEWCHAIN, text: text})
	b.buf = b.buf.str(unix.NFTA_CHAIN_TABLE, tableName).str(unix.NFTA_CHAIN_NAME, c.name)
	var hook int
	b.buf, hook = b.buf.nest(unix.NFTA_CHAIN_HOOK)
	b.buf = b.buf.u32(unix.NFTA_HOOK_HOOKNUM, hookNumbers[c.hook]).u32(unix.NFTA_HOOK_PRIORITY, uint32(c.priority)).end(hook)
	b.buf = b.buf.u32(unix.NFTA_CHAIN_POLICY, nfAccept).str(unix.NFTA_CHAIN_TYPE, c.kind)
	b.finish()
}

// nfAccept is the netfilter verdict NF_ACCEPT, a base chain's policy.
const nfAccept = 1

var hookNumbers = map[string]uint32{
	"prerouting": unix.NF_INET_PRE_ROUTING, "input": unix.NF_INET_LOCAL_IN, "forward": unix.NF_INET_FORWARD,
	"output": unix.NF_INET_LOCAL_OUT, "postrouting": unix.NF_INET_POST_ROUTING,
}

func (b *batch) chainOp(kind uint16, verb, name string) {
	b.begin(message{kind: kind, text: verb + " chain " + b.table + " " + name})
	b.buf = b.buf.str(unix.NFTA_CHAIN_TABLE, tableName).str(unix.NFTA_CHAIN_NAME, name)
	b.finish()
}

func (b *batch) addChain(name string)    { b.chainOp(unix.NFT_MSG_NEWCHAIN, "add", name) }
func (b *batch) deleteChain(name string) { b.chainOp(unix.NFT_MSG_DELCHAIN, "delete", name) }

// flushChain removes a chain's rules: a rule deletion naming no rule.
func (b *batch) flushChain(name string) {
	b.begin(message{kind: unix.NFT_MSG_DELRULE, text: "flush chain " + b.table + " " + name})
	b.buf = b.buf.str(unix.NFTA_RULE_TABLE, tableName).str(unix.NFTA_RULE_CHAIN, name)
	b.finish()
}

// encode sets r.encoded, the expressions as the kernel gets them, unless
// an earlier batch did.
func (r *rule) encode(f family) error {
	if r.encoded != nil {
		return nil
	}
	var enc attrs
	for _, e := range r.exprs {
		data, err := expr.Marshal(byte(f.nfproto()), e)
		if err != nil {
			return fmt.Errorf("encode expression %T of %q: %w", e, r.text, err)
		}
		enc = enc.raw(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, data)
	}
	// The expressions are not needed again: keeping them would keep some
	// 10 MB alive for 10,000 services.
	r.encoded, r.exprs = enc, nil
	return nil
}

// addRule appends r to chain. r's expressions are encoded once and kept
// with it, so a rule rendered earlier costs a copy.
func (b *batch) addRule(chain string, r *rule) {
	if err := r.encode(b.fam); err != nil {
		if b.err == nil {
			b.err = err
		}
		return
	}
	b.begin(message{kind: unix.NFT_MSG_NEWRULE, object: chain, rule: r})
	b.buf = b.buf.str(unix.NFTA_RULE_TABLE, tableName).str(unix.NFTA_RULE_CHAIN, chain).
		raw(unix.NLA_F_NESTED|unix.NFTA_RULE_EXPRESSIONS, r.encoded)
	b.finish()
}

// setSpec describes a named set or map of kite's table.
type setSpec struct {
	name       string
	key        nftables.SetDatatype
	verdictMap bool
	data       nftables.SetDatatype // a map to values rather than verdicts, when typeof is set
	typeof     *typeofDecl          // declares key and data by expression
	timeout    int32                // seconds: a set the rules fill, whose entries expire
}

func (b *batch) addSet(s setSpec) {
	text := fmt.Sprintf("add set %s %s { type %s; }", b.table, s.name, s.key.Name)
	flags := uint32(0)
	switch {
	case s.verdictMap:
		text = fmt.Sprintf("add map %s %s { type %s : verdict; }", b.table, s.name, s.key.Name)
		flags |= unix.NFT_SET_MAP
	case s.typeof != nil:
		text = fmt.Sprintf("add map %s %s { %s; }", b.table, s.name, s.typeof.text)
		flags |= unix.NFT_SET_MAP
	case s.timeout > 0:
		text = fmt.Sprintf("add set %s %s { type %s; flags dynamic,timeout; timeout %ds; }", b.table, s.name, s.key.Name, s.timeout)
		flags |= unix.NFT_SET_TIMEOUT | unix.NFT_SET_EVAL
	}
	b.sets++
	b.begin(message{kind: unix.NFT_MSG_NEWSET, text: text})
	b.buf = b.buf.str(unix.NFTA_SET_TABLE, tableName).str(unix.NFTA_SET_NAME, s.name).
		// The kernel wants an id for a set born in the batch.
		u32(unix.NFTA_SET_ID, b.sets).
		u32(unix.NFTA_SET_FLAGS, flags).
		u32(unix.NFTA_SET_KEY_TYPE, s.key.GetNFTMagic()).
		u32(unix.NFTA_SET_KEY_LEN, s.key.Bytes)
	if s.verdictMap {
		b.buf = b.buf.u32(unix.NFTA_SET_DATA_TYPE, unix.NFT_DATA_VERDICT).u32(unix.NFTA_SET_DATA_LEN, 0)
	}
	if s.typeof != nil {
		b.buf = b.buf.u32(unix.NFTA_SET_DATA_TYPE, s.data.GetNFTMagic()).u32(unix.NFTA_SET_DATA_LEN, s.data.Bytes)
	}
	if s.timeout > 0 {
		b.buf = b.buf.u64(unix.NFTA_SET_TIMEOUT, uint64(s.timeout)*1000)
	}
	if s.typeof != nil {
		b.buf = b.buf.raw(unix.NFTA_SET_USERDATA, s.typeof.udata)
	}
	b.finish()
}

func (b *batch) deleteSet(name string) {
	b.begin(message{kind: unix.NFT_MSG_DELSET, text: "delete set " + b.table + " " + name})
	b.buf = b.buf.str(unix.NFTA_SET_TABLE, tableName).str(unix.NFTA_SET_NAME, name)
	b.finish()
}

// element is one entry of a set or map.
type element struct {
	key     setKey
	verdict string        // verdict map elements only: "goto chain", "drop"
	value   setKey        // data map elements only: what the key maps to
	timeout time.Duration // affinity entries carried into a rebuilt table
	expires time.Duration
	owner   *netproxy.ServicePortName // the service port that asked for it
}

// pointers lists where es's elements are, for batch.elements.
func pointers(es []element) []*element {
	out := make([]*element, len(es))
	for i := range es {
		out[i] = &es[i]
	}
	return out
}

// sameTarget reports whether e and o send their key to the same place.
func (e element) sameTarget(o element) bool {
	return e.verdict == o.verdict && e.value.text == o.value.text
}

func (e element) text() string {
	s := e.key.text
	if e.verdict != "" {
		s += " : " + e.verdict
	}
	if e.value.data != nil {
		s += " : " + e.value.text
	}
	if e.timeout > 0 {
		s += fmt.Sprintf(" timeout %ds expires %ds", int(e.timeout.Seconds()), int(e.expires.Seconds()))
	}
	return s
}

// maxElementBytes keeps one element list well inside the 64 KiB a
// netlink attribute can hold.
const maxElementBytes = 48 << 10

// elements adds or deletes elements, packed into few requests.
func (b *batch) elements(add bool, set string, elems []*element) {
	kind := uint16(unix.NFT_MSG_NEWSETELEM)
	if !add {
		kind = unix.NFT_MSG_DELSETELEM
	}
	for len(elems) > 0 {
		b.begin(message{kind: kind, object: set, add: add})
		b.buf = b.buf.str(unix.NFTA_SET_ELEM_LIST_TABLE, tableName).str(unix.NFTA_SET_ELEM_LIST_SET, set)
		var list int
		b.buf, list = b.buf.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		n := 0
		for n < len(elems) && len(b.buf)-list < maxElementBytes {
			b.buf = encodeElement(b.buf, elems[n], add)
			n++
		}
		b.buf = b.buf.end(list)
		b.msgs[len(b.msgs)-1].elems = elems[:n:n]
		b.finish()
		elems = elems[n:]
	}
}

func encodeElement(a attrs, e *element, add bool) attrs {
	a, elem := a.nest(unix.NFTA_LIST_ELEM)
	a, key := a.nest(unix.NFTA_SET_ELEM_KEY)
	a = a.raw(unix.NFTA_DATA_VALUE, e.key.data).end(key)
	if add {
		if e.verdict != "" {
			v := parseVerdict(e.verdict)
			var data, verdict int
			a, data = a.nest(unix.NFTA_SET_ELEM_DATA)
			a, verdict = a.nest(unix.NFTA_DATA_VERDICT)
			a = a.u32(unix.NFTA_VERDICT_CODE, uint32(int32(v.Kind)))
			if v.Chain != "" {
				a = a.str(unix.NFTA_VERDICT_CHAIN, v.Chain)
			}
			a = a.end(verdict).end(data)
		}
		if e.value.data != nil {
			var data int
			a, data = a.nest(unix.NFTA_SET_ELEM_DATA)
			a = a.raw(unix.NFTA_DATA_VALUE, e.value.data).end(data)
		}
		if e.timeout > 0 {
			a = a.u64(unix.NFTA_SET_ELEM_TIMEOUT, uint64(e.timeout.Milliseconds())).
				u64(unix.NFTA_SET_ELEM_EXPIRATION, uint64(e.expires.Milliseconds()))
		}
	}
	return a.end(elem)
}
