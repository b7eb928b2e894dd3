package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// The baseline: a process that only reads the same datagrams from the same
// number of sockets, the way the server's room read loops do (one goroutine
// per socket, recvmmsg batches of 64, an 8 MiB receive buffer), and discards
// them. Its CPU is the floor any receiver pays for "just reading the sockets".
//
// The bench starts itself (or its test binary) with sinkEnv set; the sink
// prints {"ports":[…]} and reads until its stdin closes, then prints
// {"datagrams":N,"bytes":M}.

const sinkEnv = "STREAMLINE_BENCH_UDP_SINK"

type sinkHello struct {
	Ports []int `json:"ports"`
}

type sinkCounts struct {
	Datagrams uint64 `json:"datagrams"`
	Bytes     uint64 `json:"bytes"`
}

// sinkMain runs the sink when the process was started as one; it returns
// false otherwise.
func sinkMain() bool {
	v := os.Getenv(sinkEnv)
	if v == "" {
		return false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a socket count\n", sinkEnv, v)
		os.Exit(2)
	}
	if err := runSink(n, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "udp sink:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func runSink(n int, stdin io.Reader, stdout io.Writer) error {
	conns := make([]*net.UDPConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	hello := sinkHello{}
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		_ = c.SetReadBuffer(8 << 20)
		conns = append(conns, c)
		hello.Ports = append(hello.Ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	var datagrams, bytes atomic.Uint64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := ipv4.NewPacketConn(c)
			msgs := make([]ipv4.Message, 64)
			for i := range msgs {
				msgs[i].Buffers = [][]byte{make([]byte, 1501)}
			}
			for {
				k, err := pc.ReadBatch(msgs, 0)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				var b uint64
				for i := 0; i < k; i++ {
					b += uint64(msgs[i].N)
				}
				datagrams.Add(uint64(k))
				bytes.Add(b)
			}
		}()
	}
	if err := json.NewEncoder(stdout).Encode(hello); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin) // until the bench closes our stdin
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	conns = nil
	return json.NewEncoder(stdout).Encode(sinkCounts{Datagrams: datagrams.Load(), Bytes: bytes.Load()})
}
