package ingest

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type received struct {
	data []byte
	from netip.AddrPort
}

// startReader runs a udpReader on a socket bound to listen; the returned
// stop stops it and closes the socket, failing the test if either hangs.
func startReader(t *testing.T, listen string, maxDatagram int) (*net.UDPConn, <-chan received, func()) {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(listen)))
	if err != nil {
		t.Skipf("listen %s: %v", listen, err)
	}
	u, err := newUDPReader(conn)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan received, 1024)
	done := make(chan error, 1)
	go func() {
		done <- u.run(maxDatagram, func(b []byte, from netip.AddrPort, _ time.Time) {
			got <- received{bytes.Clone(b), from}
		})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			u.stop()
			closed := make(chan struct{})
			go func() { conn.Close(); close(closed) }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("reader: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("reader did not return within 2 s of stop")
			}
			select {
			case <-closed:
			case <-time.After(2 * time.Second):
				t.Fatal("socket close hung after the reader returned")
			}
			u.close()
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
		wg.Add(2)
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
		go func() { // drain what the handler passes on
			defer wg.Done()
			for {
				select {
				case <-quit:
					return
				case <-got:
				}
			}
		}()
		time.Sleep(200 * time.Millisecond)
		stop()
		close(quit)
		wg.Wait()
	})
}
