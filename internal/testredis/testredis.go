// Package testredis gives tests a real Redis: the one on 127.0.0.1:6379 when
// it answers, otherwise a redis-server (Debian package redis-server, which
// make test installs) started on a free port and stopped with the test.
package testredis

import (
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"
)

// URL returns a redis:// URL of a Redis the test may use.
func URL(t testing.TB) string {
	t.Helper()
	if answers("127.0.0.1:6379", time.Second) {
		return "redis://127.0.0.1:6379/0"
	}
	port := FreePort(t)
	Start(t, port)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

// FreePort returns a TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs a non-persistent redis-server on port until it answers; the
// caller may kill it early (a restart test), otherwise it stops with the test.
func Start(t testing.TB, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (make test installs it)", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if answers(addr, 100*time.Millisecond) {
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redis-server on %s did not start", addr)
	return nil
}

func answers(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
