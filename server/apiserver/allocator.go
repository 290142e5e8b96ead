package apiserver

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// bitmapRange hands out the members of a range (service IPs or node ports)
// from a bitmap stored in etcd, updated with compare-and-swap so several API
// servers never hand out the same member.
type bitmapRange struct {
	client *clientv3.Client
	key    string
	size   int
}

// errAllocated and errOutOfRange carry upstream's wording for field errors.
var (
	errAllocated = fmt.Errorf("already allocated")
	errFull      = fmt.Errorf("range is full")
)

func (b *bitmapRange) change(ctx context.Context, fn func(bits *big.Int) (int, error)) (int, error) {
	for {
		resp, err := b.client.Get(ctx, b.key)
		if err != nil {
			return 0, apierrors.NewInternalError(err)
		}
		bits := new(big.Int)
		var rev int64
		if len(resp.Kvs) > 0 {
			bits.SetBytes(resp.Kvs[0].Value)
			rev = resp.Kvs[0].ModRevision
		}
		n, err := fn(bits)
		if err != nil {
			return 0, err
		}
		txn, err := b.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(b.key), "=", rev)).
			Then(clientv3.OpPut(b.key, string(bits.Bytes()))).
			Commit()
		if err != nil {
			return 0, apierrors.NewInternalError(err)
		}
		if txn.Succeeded {
			return n, nil
		}
	}
}

// allocate takes member n, or any free member when n < 0.
func (b *bitmapRange) allocate(ctx context.Context, n int) (int, error) {
	return b.change(ctx, func(bits *big.Int) (int, error) {
		if n >= 0 {
			if bits.Bit(n) == 1 {
				return 0, errAllocated
			}
			bits.SetBit(bits, n, 1)
			return n, nil
		}
		start := rand.IntN(b.size)
		for i := 0; i < b.size; i++ {
			m := (start + i) % b.size
			if bits.Bit(m) == 0 {
				bits.SetBit(bits, m, 1)
				return m, nil
			}
		}
		return 0, errFull
	})
}

func (b *bitmapRange) release(ctx context.Context, n int) {
	_, _ = b.change(ctx, func(bits *big.Int) (int, error) {
		bits.SetBit(bits, n, 0)
		return n, nil
	})
}

// ipRange allocates service cluster IPs from the service CIDR; the network
// and broadcast addresses are never handed out.
type ipRange struct {
	cidr *net.IPNet
	base *big.Int
	bits *bitmapRange
}

func newIPRange(client *clientv3.Client, cidr *net.IPNet) *ipRange {
	ones, total := cidr.Mask.Size()
	size := 1 << min(total-ones, 20)
	return &ipRange{cidr: cidr, base: new(big.Int).SetBytes(cidr.IP.To16()), bits: &bitmapRange{client: client, key: "/registry/ranges/serviceips", size: size - 1}}
}

func (r *ipRange) offset(ip net.IP) (int, bool) {
	if !r.cidr.Contains(ip) {
		return 0, false
	}
	off := new(big.Int).Sub(new(big.Int).SetBytes(ip.To16()), r.base).Int64()
	if off < 1 || off >= int64(r.bits.size) {
		return 0, false
	}
	return int(off), true
}

func (r *ipRange) ip(off int) net.IP {
	v := new(big.Int).Add(r.base, big.NewInt(int64(off)))
	b := v.Bytes()
	ip := make(net.IP, 16)
	copy(ip[16-len(b):], b)
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// Allocate takes ip, or a free IP when ip is nil.
func (r *ipRange) Allocate(ctx context.Context, ip net.IP, path *field.Path) (net.IP, error) {
	want := -1
	if ip != nil {
		off, ok := r.offset(ip)
		if !ok {
			return nil, field.Invalid(path, ip.String(), fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", r.cidr))
		}
		want = off
	}
	for {
		off, err := r.bits.allocate(ctx, want)
		switch {
		case err == errAllocated:
			return nil, field.Invalid(path, ip.String(), "provided IP is already allocated")
		case err == errFull:
			return nil, field.InternalError(path, fmt.Errorf("failed to allocate a serviceIP: range is full"))
		case err != nil:
			return nil, err
		}
		if off == 0 {
			continue // the network address stays reserved
		}
		return r.ip(off), nil
	}
}

// Release frees ip if it belongs to the range.
func (r *ipRange) Release(ctx context.Context, ip net.IP) {
	if off, ok := r.offset(ip); ok {
		r.bits.release(ctx, off)
	}
}

// portRange allocates NodePorts.
type portRange struct {
	base, size int
	bits       *bitmapRange
}

func newPortRange(client *clientv3.Client, base, size int) *portRange {
	return &portRange{base: base, size: size, bits: &bitmapRange{client: client, key: "/registry/ranges/servicenodeports", size: size}}
}

// Allocate takes port, or a free port when port is 0.
func (p *portRange) Allocate(ctx context.Context, port int, path *field.Path) (int, error) {
	want := -1
	if port != 0 {
		if port < p.base || port >= p.base+p.size {
			return 0, field.Invalid(path, port, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", p.base, p.base+p.size-1))
		}
		want = port - p.base
	}
	off, err := p.bits.allocate(ctx, want)
	switch {
	case err == errAllocated:
		return 0, field.Invalid(path, port, "provided port is already allocated")
	case err == errFull:
		return 0, field.InternalError(path, fmt.Errorf("failed to allocate a nodePort: range is full"))
	case err != nil:
		return 0, err
	}
	return p.base + off, nil
}

// Release frees port if it belongs to the range.
func (p *portRange) Release(ctx context.Context, port int) {
	if port >= p.base && port < p.base+p.size {
		p.bits.release(ctx, port-p.base)
	}
}
