package ingest

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg call may return.
const batchSize = 64

// udpReader receives a room's datagrams on a thread of its own: poll(2) on
// the socket, then recvmmsg(2) until it is drained. Go's netpoller is not
// involved: with it, every burst of packets woke an idle process (an epoll
// wait returning on one thread, often a second thread started to look for
// work), and each such wake-up from idle reset the runtime's sysmon to
// polling every 20 µs for a millisecond — on a room of nine a sixth of the
// server's ingest samples were sysmon's sleeps and wake-ups. A blocked poll
// keeps its P, so the process is never idle while a room is open and sysmon
// backs off to 10 ms. stop wakes the poll through an eventfd.
type udpReader struct {
	conn    *net.UDPConn
	wake    int // eventfd: readable once stop was called
	stopped atomic.Bool
}

func newUDPReader(conn *net.UDPConn) (*udpReader, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &udpReader{conn: conn, wake: fd}, nil
}

// stop makes run return soon. Call it before closing the connection: the
// connection's Close waits for run (which holds the descriptor) to return.
func (u *udpReader) stop() {
	if u.stopped.Swap(true) {
		return
	}
	one := [8]byte{1}
	_, _ = unix.Write(u.wake, one[:])
}

// close frees the eventfd; call it after run has returned.
func (u *udpReader) close() { unix.Close(u.wake) }

// run reads datagrams until stop, calling handle for each with its source
// and arrival time. Buffers are reused: handle must not keep b. Datagrams
// larger than maxDatagram are passed truncated at maxDatagram+1 bytes, so
// the handler can count them as oversized.
func (u *udpReader) run(maxDatagram int, handle func(b []byte, from netip.AddrPort, now time.Time)) error {
	rc, err := u.conn.SyscallConn()
	if err != nil {
		return err
	}
	var loopErr error
	// Control holds a reference to the descriptor: it stays open (and its
	// number ours) until the loop returns.
	if err := rc.Control(func(fd uintptr) { loopErr = u.loop(int(fd), maxDatagram, handle) }); err != nil {
		return err
	}
	return loopErr
}

func (u *udpReader) loop(fd, maxDatagram int, handle func(b []byte, from netip.AddrPort, now time.Time)) error {
	b := newMmsgBatch(batchSize, maxDatagram+1)
	pfds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(u.wake), Events: unix.POLLIN}}
	lastYield := time.Now()
	for !u.stopped.Load() {
		if time.Since(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = time.Now()
		}
		n, err := b.recv(fd)
		switch {
		case err == unix.EAGAIN:
			pfds[0].Revents, pfds[1].Revents = 0, 0
			if _, err := unix.Poll(pfds, -1); err != nil && err != unix.EINTR {
				return fmt.Errorf("poll: %w", err)
			}
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			time.Sleep(time.Millisecond) // transient (e.g. ICMP-induced); do not spin
			continue
		}
		now := time.Now()
		for i := 0; i < n; i++ {
			handle(b.bufs[i][:b.hdrs[i].Len], b.from(i), now)
		}
	}
	return nil
}

// yieldEvery is how often the reader goes through the scheduler: a goroutine
// that has not for 10 ms is preempted by sysmon, which then polls every
// 20 µs again for a millisecond or more.
const yieldEvery = 5 * time.Millisecond

// mmsgBatch is recvmmsg's arguments, allocated once.
type mmsgBatch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	bufs  [][]byte
}

func newMmsgBatch(n, size int) *mmsgBatch {
	b := &mmsgBatch{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrAny, n), bufs: make([][]byte, n)}
	for i := range b.hdrs {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}

// recv is one non-blocking recvmmsg: how many datagrams it returned.
func (b *mmsgBatch) recv(fd int) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)),
		unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// from is datagram i's source address (IPv4-mapped addresses unmapped).
func (b *mmsgBatch) from(i int) netip.AddrPort {
	sa := &b.names[i]
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), ntohs(in.Port))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(in.Addr)
		if a.Is4In6() {
			a = a.Unmap()
		} else if in.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(in.Scope_id), 10)) // Go resolves a numeric zone when sending
		}
		return netip.AddrPortFrom(a, ntohs(in.Port))
	}
	return netip.AddrPort{}
}

// ntohs reads a port as the kernel stores it (network byte order).
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
