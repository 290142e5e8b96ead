package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// replyTimeout bounds the wait for the kernel's answer to a batch; the
// kernel answers as soon as it has applied (or refused) all of it.
const replyTimeout = 2 * time.Minute

// send applies the batch as one nf_tables transaction over a netlink
// socket of the calling thread's network namespace. Only the last message
// asks for an acknowledgement, so the kernel answers a batch of any size
// with one message (plus one per failed request) instead of one per
// request, which nft does alike.
func (b *batch) send() error {
	if b.err != nil {
		return b.err
	}
	if len(b.msgs) == 0 {
		return nil
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("open netfilter netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("bind netfilter netlink socket: %w", err)
	}
	seq := uint32(time.Now().UnixNano())
	b.number(seq)
	begin := batchMarker(unix.NFNL_MSG_BATCH_BEGIN, seq)
	end := batchMarker(unix.NFNL_MSG_BATCH_END, seq+1+uint32(len(b.msgs)))
	// A batch is one datagram; the socket must take it whole.
	size := len(begin) + len(b.buf) + len(end)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size+4096); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, size+4096); err != nil {
			return fmt.Errorf("size netlink send buffer: %w", err)
		}
	}
	tv := unix.NsecToTimeval(replyTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("set netlink receive timeout: %w", err)
	}
	// The requests go from where they were written, between the batch
	// markers, without being copied together first.
	if _, err := unix.SendmsgBuffers(fd, [][]byte{begin, b.buf, end}, nil, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}, 0); err != nil {
		return fmt.Errorf("send %d nf_tables requests: %w", len(b.msgs), err)
	}
	return b.awaitReply(fd, seq)
}

// number gives request i sequence number seq+1+i, and asks only the last
// one for an acknowledgement.
func (b *batch) number(seq uint32) {
	for i, m := range b.msgs {
		binary.NativeEndian.PutUint32(b.buf[m.start+8:], seq+1+uint32(i))
		flags := binary.NativeEndian.Uint16(b.buf[m.start+6:]) &^ unix.NLM_F_ACK
		if i == len(b.msgs)-1 {
			flags |= unix.NLM_F_ACK
		}
		binary.NativeEndian.PutUint16(b.buf[m.start+6:], flags)
	}
}

// batchMarker is the message that opens or closes a batch.
func batchMarker(kind uint16, seq uint32) []byte {
	out := binary.NativeEndian.AppendUint32(nil, nlHeaderLen)
	out = binary.NativeEndian.AppendUint16(out, kind)
	out = binary.NativeEndian.AppendUint16(out, unix.NLM_F_REQUEST)
	out = binary.NativeEndian.AppendUint32(out, seq)
	out = binary.NativeEndian.AppendUint32(out, 0)
	out = append(out, unix.AF_UNSPEC, unix.NFNETLINK_V0)
	return binary.BigEndian.AppendUint16(out, unix.NFNL_SUBSYS_NFTABLES)
}

// awaitReply reads error reports until the acknowledgement of the last
// request, or a report about the whole batch, arrives.
func (b *batch) awaitReply(fd int, seq uint32) error {
	last := seq + uint32(len(b.msgs))
	var errs []error
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return errors.Join(append(errs, fmt.Errorf("read nf_tables reply: %w", err))...)
		}
		replies, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parse nf_tables reply: %w", err)
		}
		for _, r := range replies {
			if r.Header.Type != unix.NLMSG_ERROR || len(r.Data) < 4 {
				continue
			}
			code := -int32(binary.NativeEndian.Uint32(r.Data))
			if code != 0 {
				errs = append(errs, b.requestError(seq, r.Header.Seq, unix.Errno(code)))
			}
			if r.Header.Seq == last || r.Header.Seq == seq {
				return errors.Join(errs...)
			}
		}
	}
}

// requestError names the request the kernel refused; nft reports errors
// the same way, by command.
func (b *batch) requestError(base, seq uint32, errno unix.Errno) error {
	i := int(seq - base - 1)
	if seq == base || i < 0 || i >= len(b.msgs) {
		return fmt.Errorf("nf_tables batch: %w", errno)
	}
	text, _, _ := strings.Cut(b.describe(i), "\n")
	return fmt.Errorf("%s: %w", text, errno)
}

// readAffinity reads the clients recorded in the affinity sets, so a full
// sync, which recreates the table, keeps every client on its endpoint.
// A missing table means nothing to keep.
func readAffinity(f family) (map[string]carriedSet, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open nftables connection: %w", err)
	}
	tableFamily := nftables.TableFamilyIPv4
	if f.ipv6 {
		tableFamily = nftables.TableFamilyIPv6
	}
	sets, err := conn.GetSets(&nftables.Table{Name: tableName, Family: tableFamily})
	if err != nil {
		// The library keeps only the text of the kernel's errno.
		if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), unix.ENOENT.Error()) {
			return nil, nil
		}
		return nil, fmt.Errorf("list sets of %s %s: %w", f.table(), tableName, err)
	}
	out := map[string]carriedSet{}
	for _, s := range sets {
		if !strings.HasPrefix(s.Name, affinityPrefix) {
			continue
		}
		elems, err := conn.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list set %s: %w", s.Name, err)
		}
		cs := carriedSet{timeout: int32(s.Timeout / time.Second)}
		for _, e := range elems {
			if a, ok := netip.AddrFromSlice(e.Key); ok && e.Expires > 0 {
				cs.entries = append(cs.entries, carriedEntry{addr: a, expires: e.Expires})
			}
		}
		if len(cs.entries) > 0 {
			out[s.Name] = cs
		}
	}
	return out, nil
}
