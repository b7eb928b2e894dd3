package cpupin

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/internal/gstx"
)

// allowed is a thread's CPU list as the kernel says it (e.g. "1", "0-1").
func allowed(t *testing.T, tid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	if err != nil {
		return "gone"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list for thread %d", tid)
	return ""
}

func waitThreads(t *testing.T, b *Binding, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if tids := b.tids(); len(tids) >= n {
			return tids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d threads in the pipeline's tasks after 5 s, want %d", len(b.tids()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// playPinned plays a pipeline of two tasks (the source's and the queue's)
// placed on cpu from the start, and returns it with its Binding and the
// two task threads; both are stopped and closed when the test ends.
func playPinned(t *testing.T, cpu int) (*gst.Pipeline, *Binding, []int) {
	t.Helper()
	if CPUs() < 2 {
		t.Skip("one CPU: nothing to place")
	}
	gstx.Init()
	pipe, err := gst.NewPipelineFromString("audiotestsrc is-live=true ! queue ! fakesink")
	if err != nil {
		t.Fatal(err)
	}
	b := Attach(pipe)
	b.Set(cpu)
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pipe.SetState(gst.StateNull); b.Close() })
	return pipe, b, waitThreads(t, b, 2)
}

func TestBindingMovesTheStreamingThreads(t *testing.T) {
	all := allowed(t, os.Getpid())
	cpu := 1
	pipe, b, tids := playPinned(t, cpu)
	for _, tid := range tids {
		if got := allowed(t, tid); got != fmt.Sprint(cpu) {
			t.Errorf("thread %d started on CPUs %s, want %d", tid, got, cpu)
		}
	}
	// Moved while they run, to another CPU and back to all.
	b.Set(0)
	for _, tid := range tids {
		if got := allowed(t, tid); got != "0" {
			t.Errorf("after Set(0) thread %d on CPUs %s", tid, got)
		}
	}
	if b.CPU() != 0 {
		t.Errorf("CPU() = %d, want 0", b.CPU())
	}
	b.Set(Float)
	for _, tid := range tids {
		if got := allowed(t, tid); got != all {
			t.Errorf("after Set(Float) thread %d on CPUs %s, want the process's %s", tid, got, all)
		}
	}
	// A task that starts later, pinned: it enters pinned, and leaving
	// gives its (pooled) thread every CPU back.
	b.Set(cpu)
	if err := pipe.SetState(gst.StateNull); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Threads(); n != 0 {
		t.Errorf("%d threads still counted after the pipeline stopped", n)
	}
	for _, tid := range tids {
		if got := allowed(t, tid); got != all && got != "gone" {
			t.Errorf("thread %d left its task on CPUs %s, want the process's %s", tid, got, all)
		}
	}
	if err := pipe.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	for _, tid := range waitThreads(t, b, 2) {
		if got := allowed(t, tid); got != fmt.Sprint(cpu) {
			t.Errorf("restarted thread %d on CPUs %s, want %d", tid, got, cpu)
		}
	}
	if _, entered := b.Threads(); entered != 4 {
		t.Errorf("%d task starts seen, want 4", entered)
	}
	b.Close()
	b.Set(0) // does nothing after Close
	if b.CPU() != Float {
		t.Errorf("CPU() = %d after Close, want Float", b.CPU())
	}
}

func TestUsable(t *testing.T) {
	if !Usable(0) && !Usable(1) {
		t.Error("neither CPU 0 nor 1 usable")
	}
	if Usable(-1) || Usable(1<<20) {
		t.Error("a CPU out of range is usable")
	}
}

// TestReleaseStrays: after a room leaves a CPU, the threads no Binding
// knows that were started there (a codec's) float too; the task threads
// of a Binding still on that CPU stay.
func TestReleaseStrays(t *testing.T) {
	all := allowed(t, os.Getpid())
	_, _, kept := playPinned(t, 1)

	stray := make(chan int)
	done := make(chan struct{})
	go func() {
		// Locked and never unlocked: the thread ends with the goroutine
		// instead of going back to the runtime with its affinity changed.
		runtime.LockOSThread()
		if err := pinThisThread(1); err != nil {
			t.Error(err)
		}
		stray <- syscall.Gettid()
		<-done
	}()
	tid := <-stray
	defer close(done)
	if got := allowed(t, tid); got != "1" {
		t.Fatalf("stray thread on CPUs %s, want 1", got)
	}
	if n := ReleaseStrays(1); n < 1 {
		t.Errorf("ReleaseStrays moved %d threads, want the stray", n)
	}
	if got := allowed(t, tid); got != all {
		t.Errorf("stray thread on CPUs %s after ReleaseStrays, want %s", got, all)
	}
	for _, k := range kept {
		if got := allowed(t, k); got != "1" {
			t.Errorf("task thread %d of a Binding still on CPU 1 moved to %s", k, got)
		}
	}
}
