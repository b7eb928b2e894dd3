package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; it is 100 on
// every Linux architecture Go supports (sysconf would need cgo).
const clockTicks = 100

// procCPU is a process's user+system CPU time (all threads, live and exited).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime+stime from a /proc/<pid>/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procStatus holds the /proc/<pid>/status fields the bench reads.
type procStatus struct {
	RSS, HWM uint64 // bytes
	Threads  int
}

func readStatus(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	return parseStatus(b), nil
}

func parseStatus(b []byte) procStatus {
	var s procStatus
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSS = n << 10
		case "VmHWM":
			s.HWM = n << 10
		case "Threads":
			s.Threads = int(n)
		}
	}
	return s
}

// ctxSwitches sums voluntary and involuntary context switches over the
// process's live threads.
func ctxSwitches(pid int) uint64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var total uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				total += n
			}
		}
	}
	return total
}

// machineCPU returns busy and total CPU time of the whole machine from the
// first line of /proc/stat (busy excludes idle and iowait).
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (busy, total time.Duration, err error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var sum, idle uint64
	for i, s := range f[1:] {
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q: %w", s, err)
		}
		sum += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(sum-idle) * tick, time.Duration(sum) * tick, nil
}

// socketInodes returns the inodes of the sockets the process holds open.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(link, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[n] = true
			}
		}
	}
	return out, nil
}

// udpSocket is one row of /proc/net/udp or udp6.
type udpSocket struct {
	LocalPort int
	RxQueue   uint64 // bytes waiting in the receive buffer
	Inode     uint64
	Drops     uint64 // datagrams the kernel dropped for this socket
}

func readUDPTables() ([]udpSocket, error) {
	var all []udpSocket
	for _, p := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		rows, err := parseProcNetUDP(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, rows...)
	}
	return all, nil
}

// parseProcNetUDP parses /proc/net/udp(6):
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
func parseProcNetUDP(b []byte) ([]udpSocket, error) {
	var out []udpSocket
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			first = false
			if strings.HasPrefix(line, "sl") {
				continue
			}
		}
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 13 {
			return nil, fmt.Errorf("short line %q", line)
		}
		var s udpSocket
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("local address %q", f[1])
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("local port %q: %w", portHex, err)
		}
		s.LocalPort = int(port)
		if _, rx, ok := strings.Cut(f[4], ":"); ok {
			s.RxQueue, _ = strconv.ParseUint(rx, 16, 64)
		}
		if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
			return nil, fmt.Errorf("inode %q: %w", f[9], err)
		}
		if s.Drops, err = strconv.ParseUint(f[12], 10, 64); err != nil {
			return nil, fmt.Errorf("drops %q: %w", f[12], err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// udpDrops sums kernel drops and queued bytes over the UDP sockets of pid
// whose local port is in ports (all of its UDP sockets when ports is nil).
func udpDrops(pid int, ports map[int]bool) (drops, rxQueue uint64, sockets int, err error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	rows, err := readUDPTables()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, r := range rows {
		if !inodes[r.Inode] || (ports != nil && !ports[r.LocalPort]) {
			continue
		}
		drops += r.Drops
		rxQueue += r.RxQueue
		sockets++
	}
	return drops, rxQueue, sockets, nil
}

// cpuInfo names the machine for the report header.
func cpuInfo() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			switch strings.TrimSpace(k) {
			case "model name":
				model = strings.TrimSpace(v)
			case "processor":
				n++
			}
		}
	}
	return fmt.Sprintf("%d × %s", n, model)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
