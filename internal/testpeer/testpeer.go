// Package testpeer starts the real peers the live-output tests talk to:
// nginx with the RTMP module, on a free port, as a child process.
package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// rtmpModule is where Debian's libnginx-mod-rtmp puts the module.
const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

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

// RTMPServer is nginx with the RTMP module accepting live streams at
// rtmp://127.0.0.1:Port/live/<name>.
type RTMPServer struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartRTMP starts nginx-rtmp (skipping the test when nginx or the module
// is not installed: scripts/install-deps.sh test installs both).
func StartRTMP(t testing.TB) *RTMPServer {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx not installed (scripts/install-deps.sh test)")
	}
	if _, err := os.Stat(rtmpModule); err != nil {
		t.Skip("libnginx-mod-rtmp not installed (scripts/install-deps.sh test)")
	}
	s := &RTMPServer{Port: FreePort(t), dir: t.TempDir(), t: t}
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 64; }
rtmp {
  server {
    listen 127.0.0.1:%d;
    chunk_size 4096;
    application live { live on; record off; wait_key on; }
  }
}
`, rtmpModule, s.dir, s.dir, s.Port)
	if err := os.WriteFile(filepath.Join(s.dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the publish/play URL of stream name.
func (s *RTMPServer) URL(name string) string {
	return fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", s.Port, name)
}

// Start (re)starts nginx on the same port and waits until it listens.
func (s *RTMPServer) Start() {
	s.t.Helper()
	cmd := exec.Command("nginx", "-p", s.dir, "-e", filepath.Join(s.dir, "error.log"), "-c", filepath.Join(s.dir, "nginx.conf"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start nginx: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			s.t.Fatalf("nginx not listening on %d: %v\n%s", s.Port, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills nginx (as a crash would) and waits for it to exit.
func (s *RTMPServer) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
