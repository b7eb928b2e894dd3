package ingest

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchSize is how many datagrams one recvmmsg call may return.
const batchSize = 64

type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// readBatch reads datagrams from conn with recvmmsg until it is closed,
// calling handle for each with its source and arrival time. Buffers are
// reused: handle must not keep b. Datagrams larger than maxDatagram are
// passed truncated at maxDatagram+1 bytes, so the handler can count them as
// oversized.
func readBatch(conn *net.UDPConn, maxDatagram int, handle func(b []byte, from netip.AddrPort, now time.Time)) {
	var br batchReader
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		br = ipv4.NewPacketConn(conn)
	} else {
		br = ipv6.NewPacketConn(conn)
	}
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, maxDatagram+1)}
	}
	for {
		n, err := br.ReadBatch(msgs, 0)
		if err != nil {
			if isClosed(err) {
				return
			}
			time.Sleep(time.Millisecond) // transient (e.g. ICMP-induced); do not spin
			continue
		}
		now := time.Now()
		for i := 0; i < n; i++ {
			m := &msgs[i]
			ua, _ := m.Addr.(*net.UDPAddr)
			var from netip.AddrPort
			if ua != nil {
				from = ua.AddrPort()
				from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			}
			handle(m.Buffers[0][:m.N], from, now)
		}
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
