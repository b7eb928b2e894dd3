// Package cpupin keeps a pipeline's streaming threads on chosen CPUs.
//
// A live composite hands every frame from thread to thread (track,
// tile decoder, mixer, encoder and its slice threads, muxer), 30 times a
// second. Spread over the cores, each hand-off wakes a thread on another
// CPU (an inter-processor interrupt, a halted vCPU woken on a VM) and the
// frame's data moves between the cores' caches. Kept on one core, the same
// work costs less (measured: docs/compositing.md#cpu-affinity). A Binding
// holds a pipeline's threads where its Planner-chosen CPUs are and can
// move them while they run.
//
// How: the pipeline bus's sync handler sees each STREAM_STATUS message.
// GStreamer posts ENTER from the streaming thread itself when a task starts
// and LEAVE when it ends, so the handler sets the thread's own affinity and
// keeps its thread id (to move it later); at LEAVE the thread gets the
// process's CPUs back, since task threads are pooled and may serve another
// pipeline next. Threads a codec starts from a streaming thread (x264's
// slices, libvpx's) inherit the mask when they start; those started while
// the pipeline was pinned stay on its CPU until their element stops.
package cpupin

/*
#cgo pkg-config: gstreamer-1.0
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <gst/gst.h>

// SlPin is one pipeline's placement, shared by its streaming threads (in
// the bus sync handler) and the Go side (sl_pin_set).
typedef struct {
	GMutex lock;
	cpu_set_t mask;  // where the pipeline's task threads run
	GArray *tids;    // pid_t of the threads inside one of its tasks
	guint64 entered; // ENTER messages seen
} SlPin;

// sl_all is the process's own CPU set when the first pin was made: what a
// thread gets back (an operator's taskset or cpuset stays respected).
static cpu_set_t sl_all;
static gsize sl_all_once = 0;

static void sl_pin_init_all(void) {
	if (g_once_init_enter(&sl_all_once)) {
		CPU_ZERO(&sl_all);
		if (sched_getaffinity(0, sizeof(sl_all), &sl_all) != 0) {
			for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &sl_all);
		}
		g_once_init_leave(&sl_all_once, 1);
	}
}

static int sl_pin_all_count(void) {
	sl_pin_init_all();
	return CPU_COUNT(&sl_all);
}

static int sl_pin_all_has(int cpu) {
	sl_pin_init_all();
	return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &sl_all);
}

static pid_t sl_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static GstBusSyncReply sl_pin_sync(GstBus *bus, GstMessage *msg, gpointer data) {
	if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_STREAM_STATUS) return GST_BUS_PASS;
	SlPin *p = data;
	GstStreamStatusType type;
	GstElement *owner = NULL;
	gst_message_parse_stream_status(msg, &type, &owner);
	pid_t tid = sl_gettid();
	switch (type) {
	case GST_STREAM_STATUS_TYPE_ENTER:
		g_mutex_lock(&p->lock);
		g_array_append_val(p->tids, tid);
		p->entered++;
		sched_setaffinity(0, sizeof(p->mask), &p->mask);
		g_mutex_unlock(&p->lock);
		break;
	case GST_STREAM_STATUS_TYPE_LEAVE:
		g_mutex_lock(&p->lock);
		for (guint i = 0; i < p->tids->len; i++) {
			if (g_array_index(p->tids, pid_t, i) == tid) {
				g_array_remove_index_fast(p->tids, i);
				break;
			}
		}
		g_mutex_unlock(&p->lock);
		sched_setaffinity(0, sizeof(sl_all), &sl_all);
		break;
	default:
		break;
	}
	// Nobody else reads stream-status messages: the bus poller would only
	// pop and discard them.
	return GST_BUS_DROP;
}

static void sl_pin_free(gpointer data) {
	SlPin *p = data;
	g_array_unref(p->tids);
	g_mutex_clear(&p->lock);
	g_free(p);
}

// sl_pin_attach installs the handler on the pipeline's bus, its threads
// on every CPU of the process until sl_pin_set. The bus frees the SlPin
// when it is finalized or its handler replaced.
static SlPin *sl_pin_attach(void *pipeline) {
	sl_pin_init_all();
	SlPin *p = g_new0(SlPin, 1);
	g_mutex_init(&p->lock);
	p->mask = sl_all;
	p->tids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	GstBus *bus = gst_element_get_bus(GST_ELEMENT(pipeline));
	gst_bus_set_sync_handler(bus, sl_pin_sync, p, sl_pin_free);
	gst_object_unref(bus);
	return p;
}

// sl_pin_set moves the pipeline's threads to cpu (-1: every CPU of the
// process), those inside a task now and those that enter one later. It
// returns how many running threads could not be moved (ended meanwhile).
static int sl_pin_set(SlPin *p, int cpu) {
	cpu_set_t m;
	if (cpu < 0) {
		m = sl_all;
	} else {
		CPU_ZERO(&m);
		CPU_SET(cpu, &m);
	}
	int failed = 0;
	g_mutex_lock(&p->lock);
	p->mask = m;
	for (guint i = 0; i < p->tids->len; i++) {
		if (sched_setaffinity(g_array_index(p->tids, pid_t, i), sizeof(m), &m) != 0) failed++;
	}
	g_mutex_unlock(&p->lock);
	return failed;
}

// sl_pin_tid is the i-th thread in a task, -1 past the last.
static int sl_pin_tid(SlPin *p, guint i) {
	int tid = -1;
	g_mutex_lock(&p->lock);
	if (i < p->tids->len) tid = g_array_index(p->tids, pid_t, i);
	g_mutex_unlock(&p->lock);
	return tid;
}

// sl_only_on reports whether thread tid may run on cpu alone.
static int sl_only_on(int tid, int cpu) {
	cpu_set_t m;
	CPU_ZERO(&m);
	if (sched_getaffinity((pid_t)tid, sizeof(m), &m) != 0) return 0;
	return CPU_COUNT(&m) == 1 && CPU_ISSET(cpu, &m);
}

// sl_float_tid gives thread tid (0: the caller) the process's CPUs.
static int sl_float_tid(int tid) {
	sl_pin_init_all();
	return sched_setaffinity((pid_t)tid, sizeof(sl_all), &sl_all);
}

// sl_pin_self keeps the calling thread on cpu (tests).
static int sl_pin_self(int cpu) {
	cpu_set_t m;
	CPU_ZERO(&m);
	CPU_SET(cpu, &m);
	return sched_setaffinity(0, sizeof(m), &m);
}

static guint sl_pin_threads(SlPin *p, guint64 *entered) {
	g_mutex_lock(&p->lock);
	guint n = p->tids->len;
	*entered = p->entered;
	g_mutex_unlock(&p->lock);
	return n;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// Float is the placement on every CPU the process may use.
const Float = -1

// Binding places one pipeline's streaming threads. It lives as long as the
// pipeline: the pipeline's bus owns the C side and frees it with itself.
type Binding struct {
	mu     sync.Mutex
	c      *C.SlPin
	cpu    int
	closed bool
}

// bindings are the open Bindings, for ReleaseStrays.
var bindings struct {
	sync.Mutex
	open map[*Binding]struct{}
}

// Attach takes over pipe's bus sync handler (the pipeline must have none)
// and starts with its threads floating. Call it before the pipeline starts
// its tasks, or the threads already running are not known to it.
func Attach(pipe *gst.Pipeline) *Binding {
	b := &Binding{c: C.sl_pin_attach(unsafe.Pointer(pipe.Instance())), cpu: Float}
	bindings.Lock()
	if bindings.open == nil {
		bindings.open = map[*Binding]struct{}{}
	}
	bindings.open[b] = struct{}{}
	bindings.Unlock()
	return b
}

// ReleaseStrays lets every thread of the process that may run on cpu alone
// float, except the task threads of the Bindings still placed there: the
// threads codecs started from a room's threads while it was pinned (x264's,
// libvpx's), which no Binding knows. Call it after moving a room off cpu.
// It returns how many threads it moved.
func ReleaseStrays(cpu int) int {
	keep := map[int]bool{}
	bindings.Lock()
	open := make([]*Binding, 0, len(bindings.open))
	for b := range bindings.open {
		open = append(open, b)
	}
	bindings.Unlock()
	for _, b := range open {
		if b.CPU() == cpu {
			for _, tid := range b.tids() {
				keep[tid] = true
			}
		}
	}
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	moved := 0
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || keep[tid] || C.sl_only_on(C.int(tid), C.int(cpu)) == 0 {
			continue
		}
		if C.sl_float_tid(C.int(tid)) == 0 {
			moved++
		}
	}
	return moved
}

// CPUs is how many CPUs the process may run on.
func CPUs() int { return int(C.sl_pin_all_count()) }

// Usable reports whether the process may run on cpu.
func Usable(cpu int) bool { return C.sl_pin_all_has(C.int(cpu)) != 0 }

// Set moves the pipeline's threads to cpu, or lets them float (Float).
// It returns how many running threads could not be moved (they were
// ending). After Close it does nothing.
func (b *Binding) Set(cpu int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || cpu == b.cpu {
		return 0
	}
	if cpu != Float && !Usable(cpu) {
		cpu = Float
	}
	b.cpu = cpu
	return int(C.sl_pin_set(b.c, C.int(cpu)))
}

// CPU is where the threads are placed (Float: anywhere).
func (b *Binding) CPU() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cpu
}

// Threads is how many of the pipeline's streaming threads are in a task
// now, and how many task starts it has seen.
func (b *Binding) Threads() (running int, entered uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, 0
	}
	var e C.guint64
	n := C.sl_pin_threads(b.c, &e)
	return int(n), uint64(e)
}

// Close lets the threads float and forgets the pipeline: call it before
// the pipeline is released (its bus frees the C side).
func (b *Binding) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	C.sl_pin_set(b.c, C.int(Float))
	b.cpu, b.closed = Float, true
	bindings.Lock()
	delete(bindings.open, b)
	bindings.Unlock()
}

// pinThisThread keeps the calling OS thread on cpu (tests: a thread no
// Binding knows, like a codec's).
func pinThisThread(cpu int) error {
	if C.sl_pin_self(C.int(cpu)) != 0 {
		return fmt.Errorf("sched_setaffinity(%d) failed", cpu)
	}
	return nil
}

// tids are the threads inside one of the pipeline's tasks now (tests).
func (b *Binding) tids() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for i := 0; ; i++ {
		tid := int(C.sl_pin_tid(b.c, C.guint(i)))
		if tid < 0 {
			return out
		}
		out = append(out, tid)
	}
}
