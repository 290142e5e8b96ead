package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// udpBatchSize is how many datagrams one recvmmsg or sendmmsg moves.
	udpBatchSize = 32
	// udpQueryBufferSize holds any sensible query; longer datagrams are
	// dropped (the kernel marks them MSG_TRUNC).
	udpQueryBufferSize = 4096
)

// udpBatch reads queries and writes replies on one UDP socket, a batch per
// system call (recvmmsg/sendmmsg). All buffers are allocated once, so
// moving packets allocates nothing; replies point at their bytes instead of
// copying them.
type udpBatch struct {
	raw syscall.RawConn

	rxHdrs  []unix.Mmsghdr
	rxIovs  []unix.Iovec
	rxAddrs []unix.RawSockaddrInet6 // large enough for IPv4 senders too
	rxBufs  []byte
	rxCount int

	txHdrs    []unix.Mmsghdr
	txIovs    []unix.Iovec // two per reply: the ID, then the rest of the reply
	txAddrs   []unix.RawSockaddrInet6
	txIDs     [][2]byte
	txReplies [][]byte // keeps the reply bytes alive while the kernel reads them
	txCount   int

	// State of the current system call, for the closures handed to raw.
	sysN      int
	sysErr    error
	recvFn    func(fd uintptr) bool
	sendFn    func(fd uintptr) bool
	sendFirst int
}

func newUDPBatch(conn *net.UDPConn) (*udpBatch, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp batch: %w", err)
	}
	b := &udpBatch{
		raw:       raw,
		rxHdrs:    make([]unix.Mmsghdr, udpBatchSize),
		rxIovs:    make([]unix.Iovec, udpBatchSize),
		rxAddrs:   make([]unix.RawSockaddrInet6, udpBatchSize),
		rxBufs:    make([]byte, udpBatchSize*udpQueryBufferSize),
		txHdrs:    make([]unix.Mmsghdr, udpBatchSize),
		txIovs:    make([]unix.Iovec, 2*udpBatchSize),
		txAddrs:   make([]unix.RawSockaddrInet6, udpBatchSize),
		txIDs:     make([][2]byte, udpBatchSize),
		txReplies: make([][]byte, udpBatchSize),
	}
	for i := range udpBatchSize {
		b.rxIovs[i].Base = &b.rxBufs[i*udpQueryBufferSize]
		b.rxIovs[i].SetLen(udpQueryBufferSize)
		h := &b.rxHdrs[i].Hdr
		h.Iov = &b.rxIovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&b.rxAddrs[i]))

		t := &b.txHdrs[i].Hdr
		t.Iov = &b.txIovs[2*i]
		t.SetIovlen(2)
		t.Name = (*byte)(unsafe.Pointer(&b.txAddrs[i]))
		b.txIovs[2*i].Base = &b.txIDs[i][0]
		b.txIovs[2*i].SetLen(2)
	}
	b.recvFn = b.recvmmsg
	b.sendFn = b.sendmmsg
	return b, nil
}

// read waits for datagrams and receives up to a batch of them; it returns
// how many.
func (b *udpBatch) read() (int, error) {
	for i := range b.rxHdrs {
		b.rxHdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.rxHdrs[i].Hdr.Flags = 0
		b.rxHdrs[i].Len = 0
	}
	b.rxCount = 0
	b.sysN, b.sysErr = 0, nil
	if err := b.raw.Read(b.recvFn); err != nil {
		return 0, err
	}
	if b.sysErr != nil {
		// Shaped like the errors of net.UDPConn's reads, so miekg/dns keeps
		// serving after temporary ones as it did with its own reads.
		return 0, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmmsg", b.sysErr)}
	}
	b.rxCount = b.sysN
	return b.sysN, nil
}

func (b *udpBatch) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rxHdrs[0])), uintptr(len(b.rxHdrs)), 0, 0, 0)
		switch errno {
		case 0:
			b.sysN = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until readable
		default:
			b.sysErr = errno
			return true
		}
	}
}

// packet is datagram i of the last read, or nil when it did not fit the
// buffer. The bytes are valid until the next read.
func (b *udpBatch) packet(i int) []byte {
	if b.rxHdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil
	}
	off := i * udpQueryBufferSize
	return b.rxBufs[off : off+int(b.rxHdrs[i].Len)]
}

// sender is the address datagram i came from.
func (b *udpBatch) sender(i int) (*net.UDPAddr, bool) {
	sa := &b.rxAddrs[i]
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), binary.BigEndian.Uint16(port[:]))), true
	case unix.AF_INET6:
		port := (*[2]byte)(unsafe.Pointer(&sa.Port))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(port[:]))), true
	}
	return nil, false
}

// queueReply queues reply for the sender of datagram i, with the ID of
// that datagram; reply itself is not modified.
func (b *udpBatch) queueReply(i int, reply []byte) {
	j := b.txCount
	b.txCount++
	b.txAddrs[j] = b.rxAddrs[i]
	b.txHdrs[j].Hdr.Namelen = b.rxHdrs[i].Hdr.Namelen
	b.txHdrs[j].Len = 0
	copy(b.txIDs[j][:], b.packet(i)[:2])
	b.txIovs[2*j+1].Base = &reply[2]
	b.txIovs[2*j+1].SetLen(len(reply) - 2)
	b.txReplies[j] = reply
}

// flush sends the queued replies. A reply the kernel refuses (the sender's
// address unreachable, say) is skipped and reported; the others still go.
func (b *udpBatch) flush() error {
	var errs []error
	for b.sendFirst = 0; b.sendFirst < b.txCount; {
		b.sysN, b.sysErr = 0, nil
		if err := b.raw.Write(b.sendFn); err != nil {
			errs = append(errs, err)
			break
		}
		if b.sysErr != nil {
			errs = append(errs, os.NewSyscallError("sendmmsg", b.sysErr))
			b.sendFirst++
			continue
		}
		// The kernel sends at least one datagram or fails; max guards the loop.
		b.sendFirst += max(b.sysN, 1)
	}
	for j := range b.txCount {
		b.txReplies[j] = nil
	}
	b.txCount = 0
	return errors.Join(errs...)
}

func (b *udpBatch) sendmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.txHdrs[b.sendFirst])), uintptr(b.txCount-b.sendFirst), 0, 0, 0)
		switch errno {
		case 0:
			b.sysN = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until writable
		default:
			b.sysErr = errno
			return true
		}
	}
}
