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
	st, err := parseStat(b)
	return st.CPU, err
}

// procStat is what the bench reads from /proc/<pid>/stat.
type procStat struct {
	Name    string
	CPU     time.Duration // utime + stime
	Kthread bool
}

// parseStat reads a /proc/<pid>/stat line. The command name (field 2) may
// hold spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	open, i := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || i < open {
		return procStat{}, fmt.Errorf("stat: no command field")
	}
	st := procStat{Name: string(b[open+1 : i])}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): flags is field 9, utime field 14, stime field 15.
	if len(f) < 13 {
		return st, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	st.Kthread = flags&0x00200000 != 0 // PF_KTHREAD
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	st.CPU = time.Duration(ut+stime) * time.Second / clockTicks
	return st, nil
}

// allProcs reads the stat of every process on the machine.
func allProcs() map[int]procStat { return statsIn("/proc") }

// statsIn reads the stat file of every numbered entry of dir (/proc: the
// processes; /proc/<pid>/task: a process's threads), by number. An entry
// gone since the listing is left out.
func statsIn(dir string) map[int]procStat {
	ents, _ := os.ReadDir(dir)
	out := make(map[int]procStat, len(ents))
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if st, err := parseStat(b); err == nil {
			out[id] = st
		}
	}
	return out
}

// otherCPU splits the CPU used between two snapshots by the processes not in
// skip into kernel threads and everything else; top names the busiest other.
func otherCPU(before, after map[int]procStat, skip map[int]bool) (other, kthreads time.Duration, top string) {
	byName := map[string]time.Duration{}
	for pid, a := range after {
		if skip[pid] {
			continue
		}
		d := a.CPU
		if b, ok := before[pid]; ok && b.Name == a.Name {
			d -= b.CPU
		}
		if d <= 0 {
			continue
		}
		if a.Kthread {
			kthreads += d
			continue
		}
		other += d
		byName[a.Name] += d
	}
	var best time.Duration
	for n, d := range byName {
		if d > best {
			best, top = d, n
		}
	}
	return other, kthreads, top
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

// cpuTimes is the machine-wide CPU time from the first line of /proc/stat.
type cpuTimes struct {
	Busy  time.Duration // all but idle and iowait
	Total time.Duration
	IRQ   time.Duration // hard and soft interrupts (loopback delivery runs in softirq)
}

func machineCPU() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var sum, idle, irq uint64
	for i, s := range f[1:] {
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %q: %w", s, err)
		}
		sum += n
		switch i {
		case 3, 4: // idle, iowait
			idle += n
		case 5, 6: // irq, softirq
			irq += n
		}
	}
	tick := time.Second / clockTicks
	return cpuTimes{Busy: time.Duration(sum-idle) * tick, Total: time.Duration(sum) * tick, IRQ: time.Duration(irq) * tick}, nil
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
