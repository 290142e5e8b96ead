package nftables

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// attrs appends netlink attributes to a buffer in place: a full sync
// writes some 10 MB of them, and building each through a generic
// encoder cost more than the kernel took to apply them.
type attrs []byte

// raw appends attribute typ holding data, padded to 4 bytes.
func (a attrs) raw(typ uint16, data []byte) attrs {
	a = binary.NativeEndian.AppendUint16(a, uint16(unix.NLA_HDRLEN+len(data)))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(a, data...)
	return a.pad()
}

func (a attrs) pad() attrs {
	for len(a)%4 != 0 {
		a = append(a, 0)
	}
	return a
}

// str appends a NUL-terminated string.
func (a attrs) str(typ uint16, s string) attrs {
	a = binary.NativeEndian.AppendUint16(a, uint16(unix.NLA_HDRLEN+len(s)+1))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(append(a, s...), 0)
	return a.pad()
}

// u32 and u64 append numbers in network byte order, as nf_tables wants.
func (a attrs) u32(typ uint16, v uint32) attrs {
	a = binary.NativeEndian.AppendUint16(a, unix.NLA_HDRLEN+4)
	a = binary.NativeEndian.AppendUint16(a, typ)
	return binary.BigEndian.AppendUint32(a, v)
}

func (a attrs) u64(typ uint16, v uint64) attrs {
	a = binary.NativeEndian.AppendUint16(a, unix.NLA_HDRLEN+8)
	a = binary.NativeEndian.AppendUint16(a, typ)
	return binary.BigEndian.AppendUint64(a, v)
}

// nest starts a nested attribute; end closes it with the returned mark.
func (a attrs) nest(typ uint16) (attrs, int) {
	at := len(a)
	a = binary.NativeEndian.AppendUint16(a, 0)
	a = binary.NativeEndian.AppendUint16(a, unix.NLA_F_NESTED|typ)
	return a, at
}

func (a attrs) end(at int) attrs {
	binary.NativeEndian.PutUint16(a[at:], uint16(len(a)-at))
	return a
}
