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
	payload := b.wire(seq)
	// A batch is one datagram; the socket must take it whole.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, len(payload)+4096); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, len(payload)+4096); err != nil {
			return fmt.Errorf("size netlink send buffer: %w", err)
		}
	}
	tv := unix.NsecToTimeval(replyTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("set netlink receive timeout: %w", err)
	}
	if err := unix.Sendto(fd, payload, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send %d nf_tables requests: %w", len(b.msgs), err)
	}
	return b.awaitReply(fd, seq)
}

// wire lays the batch out as netlink messages between batch begin (seq)
// and batch end; message i has sequence number seq+1+i.
func (b *batch) wire(seq uint32) []byte {
	size := 2 * (unix.NLMSG_HDRLEN + 4)
	for _, m := range b.msgs {
		size += unix.NLMSG_HDRLEN + 4 + align4(len(m.data))
	}
	out := make([]byte, 0, size)
	put := func(kind uint16, flags uint16, seq uint32, family uint8, resID uint16, data []byte) {
		length := unix.NLMSG_HDRLEN + 4 + len(data)
		out = binary.NativeEndian.AppendUint32(out, uint32(length))
		out = binary.NativeEndian.AppendUint16(out, kind)
		out = binary.NativeEndian.AppendUint16(out, flags)
		out = binary.NativeEndian.AppendUint32(out, seq)
		out = binary.NativeEndian.AppendUint32(out, 0)
		out = append(out, family, unix.NFNETLINK_V0)
		out = binary.BigEndian.AppendUint16(out, resID)
		out = append(out, data...)
		out = append(out, make([]byte, align4(len(data))-len(data))...)
	}
	put(unix.NFNL_MSG_BATCH_BEGIN, unix.NLM_F_REQUEST, seq, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES, nil)
	fam := uint8(b.fam.nfproto())
	for i, m := range b.msgs {
		flags := uint16(unix.NLM_F_REQUEST)
		switch m.kind {
		case unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_NEWSET, unix.NFT_MSG_NEWSETELEM:
			flags |= unix.NLM_F_CREATE
		case unix.NFT_MSG_NEWRULE:
			flags |= unix.NLM_F_CREATE | unix.NLM_F_APPEND
		}
		if i == len(b.msgs)-1 {
			flags |= unix.NLM_F_ACK
		}
		put(unix.NFNL_SUBSYS_NFTABLES<<8|m.kind, flags, seq+1+uint32(i), fam, 0, m.data)
	}
	put(unix.NFNL_MSG_BATCH_END, unix.NLM_F_REQUEST, seq+1+uint32(len(b.msgs)), unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES, nil)
	return out
}

func align4(n int) int { return (n + 3) &^ 3 }

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
	text, _, _ := strings.Cut(b.msgs[i].text, "\n")
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
