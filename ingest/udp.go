package ingest

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg call may return.
const batchSize = 64

// drainBatches bounds the recvmmsg calls for one socket per wake-up, so a
// flooded room cannot starve the others (epoll is level-triggered: what is
// left wakes the poller again at once).
const drainBatches = 8

// yieldEvery is how often the poller goes through the scheduler: a goroutine
// that has not for 10 ms is preempted by sysmon, which then polls every
// 20 µs again for a millisecond or more.
const yieldEvery = 5 * time.Millisecond

// Every room's socket is read by one thread of the process: the poller
// waits in epoll_wait(2) on all of them, then drains each ready socket with
// recvmmsg(2) and hands the datagrams to the room. Go's netpoller is not
// involved. With it, each room had a goroutine, and every burst of packets
// woke an idle process (an epoll wait returning on one thread, often a second
// thread started to look for work); each wake-up from idle reset the
// runtime's sysmon to polling every 20 µs for a millisecond — on a room of
// nine a sixth of the server's ingest samples were sysmon's sleeps and
// wake-ups. One blocked epoll_wait keeps its P, so the process is never idle
// while a room is open and sysmon backs off to 10 ms; one thread rather than
// one per room, because threads blocked in syscalls beyond GOMAXPROCS have
// their Ps taken back by sysmon, which resets it the same way. The poller
// runs while at least one reader exists.
var shared struct {
	mu     sync.Mutex
	poller *poller
	refs   int
}

// poller is the thread reading every room's socket.
type poller struct {
	epfd    int
	wake    int // eventfd, id 0 in the epoll set: stop
	mu      sync.Mutex
	readers map[int32]*udpReader // by epoll id; held while one is drained
	nextID  int32
	done    chan struct{}
}

func acquirePoller() (*poller, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.poller == nil {
		p, err := startPoller()
		if err != nil {
			return nil, err
		}
		shared.poller = p
	}
	shared.refs++
	return shared.poller, nil
}

func releasePoller() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.refs--; shared.refs > 0 {
		return
	}
	p := shared.poller
	shared.poller = nil
	one := [8]byte{1}
	_, _ = unix.Write(p.wake, one[:])
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wake)
}

func startPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: 0}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	p := &poller{epfd: epfd, wake: wake, readers: map[int32]*udpReader{}, done: make(chan struct{})}
	go p.run()
	return p, nil
}

func (p *poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 64)
	lastYield := time.Now()
	for {
		if time.Since(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = time.Now()
		}
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err != unix.EINTR {
				slog.Error("RTP poller: epoll_wait", "err", err)
				time.Sleep(10 * time.Millisecond) // do not spin
			}
			continue
		}
		for i := 0; i < n; i++ {
			id := events[i].Fd
			if id == 0 {
				return
			}
			p.mu.Lock()
			if u := p.readers[id]; u != nil {
				u.drain()
			}
			p.mu.Unlock()
		}
	}
}

// udpReader hands a room's datagrams to its handler, on the poller.
type udpReader struct {
	fd     int // a duplicate of the socket's descriptor, closed by stop
	id     int32
	batch  *mmsgBatch
	handle func(b []byte, from netip.AddrPort, now time.Time)
	poller *poller
}

// startUDPReader reads conn until stop, calling handle for each datagram with
// its source and arrival time, on the poller's thread: handle must not block
// and must not keep b. Datagrams larger than maxDatagram are passed
// truncated at maxDatagram+1 bytes, so the handler can count them as
// oversized.
func startUDPReader(conn *net.UDPConn, maxDatagram int, handle func(b []byte, from netip.AddrPort, now time.Time)) (*udpReader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup socket: %w", dupErr)
	}
	p, err := acquirePoller()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	u := &udpReader{fd: fd, batch: newMmsgBatch(batchSize, maxDatagram+1), handle: handle, poller: p}
	p.mu.Lock()
	p.nextID++
	if p.nextID <= 0 { // wrapped; 0 is the wake-up
		p.nextID = 1
	}
	u.id = p.nextID
	p.readers[u.id] = u
	err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: u.id})
	if err != nil {
		delete(p.readers, u.id)
	}
	p.mu.Unlock()
	if err != nil {
		releasePoller()
		unix.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return u, nil
}

// stop ends the reading: when it returns, handle is not running and will not
// be called again. The connection itself stays open.
func (u *udpReader) stop() {
	p := u.poller
	p.mu.Lock() // waits out a drain in progress
	delete(p.readers, u.id)
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, u.fd, nil)
	p.mu.Unlock()
	unix.Close(u.fd)
	releasePoller()
}

// drain receives what the socket holds, up to drainBatches batches; each
// datagram gets its batch's arrival time.
func (u *udpReader) drain() {
	for range drainBatches {
		n, err := u.batch.recv(u.fd)
		// EAGAIN: drained. Anything else is a pending socket error (an ICMP
		// port unreachable), which the read returns and clears: the next
		// wake-up reads on.
		if err != nil {
			return
		}
		now := time.Now()
		for i := 0; i < n; i++ {
			u.handle(u.batch.bufs[i][:u.batch.hdrs[i].Len], u.batch.from(i), now)
		}
		if n < batchSize {
			return
		}
	}
}

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
