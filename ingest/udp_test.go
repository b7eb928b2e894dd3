package ingest

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type received struct {
	data []byte
	from netip.AddrPort
}

// startReader reads a socket bound to listen; the returned stop stops the
// reader (failing the test if it hangs) and closes the socket.
func startReader(t *testing.T, listen string, maxDatagram int) (*net.UDPConn, <-chan received, func()) {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(listen)))
	if err != nil {
		t.Skipf("listen %s: %v", listen, err)
	}
	got := make(chan received, 1024)
	u, err := startUDPReader(conn, maxDatagram, func(b []byte, from netip.AddrPort, _ time.Time) {
		select {
		case got <- received{bytes.Clone(b), from}:
		default: // the test reads what it needs; a flood must not block the poller
		}
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			done := make(chan struct{})
			go func() { u.stop(); conn.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("reader did not stop within 2 s")
			}
		})
	}
	t.Cleanup(stop)
	return conn, got, stop
}

func TestUDPReaderPassesDatagramsWithTheirSource(t *testing.T) {
	for _, tc := range []struct{ name, listen, dial string }{
		{"ipv4", "127.0.0.1:0", "127.0.0.1"},
		{"ipv6", "[::1]:0", "::1"},
		{"ipv4 on a dual-stack socket", "[::]:0", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, got, _ := startReader(t, tc.listen, 100)
			port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			dst := netip.AddrPortFrom(netip.MustParseAddr(tc.dial), port)
			snd, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
			if err != nil {
				t.Skipf("dial %s: %v", dst, err)
			}
			defer snd.Close()
			src := snd.LocalAddr().(*net.UDPAddr).AddrPort()
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			payloads := [][]byte{[]byte("first"), bytes.Repeat([]byte{7}, 100), bytes.Repeat([]byte{9}, 300)}
			for _, p := range payloads {
				if _, err := snd.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			want := [][]byte{payloads[0], payloads[1], payloads[2][:101]} // the oversized one truncated at max+1
			for i, w := range want {
				select {
				case r := <-got:
					if !bytes.Equal(r.data, w) {
						t.Errorf("datagram %d: %d bytes %q…, want %d bytes", i, len(r.data), r.data[:min(8, len(r.data))], len(w))
					}
					if r.from != src {
						t.Errorf("datagram %d from %v, want %v", i, r.from, src)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("datagram %d never arrived", i)
				}
			}
		})
	}
}

func TestUDPReaderStopsIdleAndUnderFlood(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		_, _, stop := startReader(t, "127.0.0.1:0", 1500)
		time.Sleep(50 * time.Millisecond) // blocked in poll
		stop()
	})
	t.Run("flood", func(t *testing.T) {
		conn, got, stop := startReader(t, "127.0.0.1:0", 1500)
		snd, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer snd.Close()
		quit := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // sender
			defer wg.Done()
			p := make([]byte, 1200)
			for {
				select {
				case <-quit:
					return
				default:
					_, _ = snd.Write(p)
				}
			}
		}()
		time.Sleep(200 * time.Millisecond)
		if len(got) == 0 { // the handler drops what does not fit
			t.Error("nothing read under the flood")
		}
		stop()
		close(quit)
		wg.Wait()
	})
}

func TestUDPReadersShareOnePoller(t *testing.T) {
	type sock struct {
		conn *net.UDPConn
		got  <-chan received
		stop func()
		snd  *net.UDPConn
	}
	socks := make([]sock, 3)
	for i := range socks {
		s := &socks[i]
		s.conn, s.got, s.stop = startReader(t, "127.0.0.1:0", 1500)
		var err error
		if s.snd, err = net.DialUDP("udp", nil, s.conn.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		defer s.snd.Close()
	}
	shared.mu.Lock()
	refs := shared.refs
	shared.mu.Unlock()
	if refs != len(socks) {
		t.Fatalf("%d references to the poller, want %d", refs, len(socks))
	}
	send := func(k int) {
		t.Helper()
		for i, s := range socks {
			if _, err := s.snd.Write([]byte{byte(k), byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(k int, live []int) {
		t.Helper()
		for _, i := range live {
			select {
			case r := <-socks[i].got:
				if r.data[0] != byte(k) || r.data[1] != byte(i) {
					t.Errorf("socket %d got datagram %v, want [%d %d]", i, r.data, k, i)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("round %d: socket %d got nothing", k, i)
			}
		}
	}
	send(1)
	expect(1, []int{0, 1, 2})
	socks[1].stop() // the others keep reading
	send(2)
	expect(2, []int{0, 2})
	select {
	case r := <-socks[1].got:
		t.Errorf("a stopped reader passed on %v", r.data)
	case <-time.After(100 * time.Millisecond):
	}
	socks[0].stop()
	socks[2].stop()
	shared.mu.Lock()
	p := shared.poller
	shared.mu.Unlock()
	if p != nil {
		t.Fatal("the poller still runs with no reader")
	}
	// A new reader starts it again.
	conn, got, _ := startReader(t, "127.0.0.1:0", 1500)
	snd, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	if _, err := snd.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if string(r.data) != "again" {
			t.Errorf("got %q", r.data)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a reader started after the poller stopped got nothing")
	}
}

func TestUDPReaderStopWaitsForItsHandler(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var running, calls atomic.Int32
	entered := make(chan struct{}, 1)
	u, err := startUDPReader(conn, 1500, func([]byte, netip.AddrPort, time.Time) {
		running.Add(1)
		calls.Add(1)
		select {
		case entered <- struct{}{}:
		default:
		}
		time.Sleep(100 * time.Millisecond)
		running.Add(-1)
	})
	if err != nil {
		t.Fatal(err)
	}
	snd, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	for range 3 {
		if _, err := snd.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-entered:
	case <-time.After(2 * time.Second):
		t.Fatal("handler never called")
	}
	u.stop()
	if n := running.Load(); n != 0 {
		t.Fatalf("stop returned with the handler running (%d)", n)
	}
	after := calls.Load()
	if _, err := snd.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if n := calls.Load(); n != after {
		t.Errorf("handler called %d more times after stop", n-after)
	}
}
