package ctl

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/streamline-media/streamline/compositor"
	"github.com/streamline-media/streamline/encode"
	"github.com/streamline-media/streamline/ingest"
	"github.com/streamline-media/streamline/internal/gstx"
)

// Live preview of a room's composite: one low-rate JPEG branch on the
// compositor's video tee per room, shared by every watcher, built when the
// first watcher arrives and removed when the last one leaves. While it
// exists it holds the compositor (see holdGraphLocked), so a room nobody
// records or watches runs no compositor at all.

const (
	previewHolder  = "preview"
	previewWidth   = 640
	previewFPS     = 5
	previewQuality = 70
	// previewWriteWait bounds the write of one frame to a watcher.
	previewWriteWait = 10 * time.Second
	mjpegBoundary    = "streamline-preview-frame"
)

// previewFirstFrameWait bounds the wait for the first frame of a snapshot.
var previewFirstFrameWait = 10 * time.Second

var errPreviewClosed = fmt.Errorf("%w: the room is closing", ingest.ErrClosed)

// previewFeed is a room's preview: branch is guarded by roomMedia.mu; the
// rest by mu, which is never held while the pipeline changes, because
// frames arrive on the branch's streaming thread.
type previewFeed struct {
	branch *previewBranch
	seq    int
	closed bool // the room closed: no new watchers

	mu       sync.Mutex
	watchers map[*previewWatcher]struct{}
	last     []byte // latest frame of the running branch
	frames   uint64
}

type previewBranch struct {
	out  *compositor.Output
	prev *encode.Preview
}

// previewWatcher receives frames, the latest one winning when it is slow.
type previewWatcher struct {
	frames chan []byte
	done   chan struct{} // closed when the preview ends under it
	once   sync.Once
}

func (w *previewWatcher) end() { w.once.Do(func() { close(w.done) }) }

// deliver hands a frame to every watcher without blocking (streaming thread).
func (p *previewFeed) deliver(frame []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = frame
	p.frames++
	for w := range p.watchers {
		select {
		case w.frames <- frame:
			continue
		default:
		}
		select { // slow watcher: replace its pending frame with this one
		case <-w.frames:
		default:
		}
		select {
		case w.frames <- frame:
		default:
		}
	}
}

// endWatchers ends every current watcher's stream.
func (p *previewFeed) endWatchers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.watchers {
		w.end()
	}
}

// watchPreview registers a watcher, starting the room's preview branch (and
// its compositor) if this is the first one.
func (s *Server) watchPreview(m *roomMedia) (*previewWatcher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := &m.preview
	if p.closed {
		return nil, errPreviewClosed
	}
	if p.branch == nil {
		if err := s.startPreviewLocked(m); err != nil {
			return nil, err
		}
	}
	w := &previewWatcher{frames: make(chan []byte, 1), done: make(chan struct{})}
	p.mu.Lock()
	if p.watchers == nil {
		p.watchers = map[*previewWatcher]struct{}{}
	}
	p.watchers[w] = struct{}{}
	if p.last != nil {
		w.frames <- p.last // show something at once
	}
	p.mu.Unlock()
	return w, nil
}

// unwatchPreview removes a watcher; the last one out removes the branch and
// releases the compositor.
func (s *Server) unwatchPreview(m *roomMedia, w *previewWatcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := &m.preview
	p.mu.Lock()
	delete(p.watchers, w)
	left := len(p.watchers)
	p.mu.Unlock()
	if left == 0 && p.branch != nil {
		m.stopPreviewLocked()
		m.releaseGraphLocked(previewHolder)
	}
}

// previewHeight is the preview's height for a mix of w x h: previewWidth
// wide in its shape, even (16:9 when the size is not known).
func previewHeight(w, h int) int {
	if w <= 0 || h <= 0 {
		return previewWidth * 9 / 16
	}
	return max((previewWidth*h/w+1)&^1, 2)
}

func (s *Server) startPreviewLocked(m *roomMedia) error {
	p := &m.preview
	err := m.holdGraphLocked(s, previewHolder, VideoJSON{}, func() {
		// The room is closing (m.mu held): stop the branch, end the streams.
		p.closed = true
		m.stopPreviewLocked()
		p.endWatchers()
	})
	if err != nil {
		return err
	}
	_, lay := m.graph.Layout()
	height := previewHeight(lay.Frame.Width, lay.Frame.Height)
	p.seq++
	pv, err := encode.NewPreview(encode.PreviewSettings{Width: previewWidth, Height: height, FPS: previewFPS,
		Quality: previewQuality, Name: fmt.Sprintf("preview%d", p.seq)}, p.deliver)
	if err != nil {
		m.releaseGraphLocked(previewHolder)
		return err
	}
	b := &previewBranch{prev: pv}
	p.branch = b
	p.mu.Lock()
	p.last = nil
	p.mu.Unlock()
	fail := func(err error) error {
		m.stopPreviewLocked()
		m.releaseGraphLocked(previewHolder)
		return fmt.Errorf("preview: %w", err)
	}
	pipe := m.room.Pipeline()
	if err := pipe.Add(pv.Bin.Element); err != nil {
		p.branch = nil
		m.releaseGraphLocked(previewHolder)
		return fmt.Errorf("preview: add: %w", err)
	}
	if !pv.Bin.SyncStateWithParent() {
		return fail(errors.New("could not start the preview branch"))
	}
	if b.out, err = m.graph.VideoOutput(); err != nil {
		return fail(err)
	}
	if ret := b.out.Pad.Link(pv.Bin.GetStaticPad("sink")); ret != gst.PadLinkOK {
		return fail(fmt.Errorf("link: %s", ret.String()))
	}
	return nil
}

// stopPreviewLocked detaches the branch from the tee and removes it.
func (m *roomMedia) stopPreviewLocked() {
	p := &m.preview
	b := p.branch
	if b == nil {
		return
	}
	p.branch = nil
	if b.out != nil {
		b.out.Finish()
	}
	_ = gstx.RemoveElement(m.room.Pipeline().Bin, b.prev.Bin.Element, 5*time.Second) // state-locked: see gstx.RemoveElement
	if b.out != nil {
		b.out.Close()
	}
	p.mu.Lock()
	p.last = nil
	p.mu.Unlock()
}

// EndStreams ends every preview stream, so that an HTTP server shutting
// down does not wait for watchers who would never leave.
func (s *Server) EndStreams() {
	medias := s.mediaList()
	for _, m := range medias {
		m.preview.endWatchers()
	}
}

// openPreview starts watching the preview of the request's room, answering
// the error itself when it cannot; the caller unwatches.
func (s *Server) openPreview(w http.ResponseWriter, r *http.Request) (*roomMedia, *previewWatcher, bool) {
	room, _, ok := s.lookup(w, r)
	if !ok {
		return nil, nil, false
	}
	m := s.media(room.ID())
	if m == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("room %q: %w", room.ID(), ErrRoomNotFound))
		return nil, nil, false
	}
	wt, err := s.watchPreview(m)
	if err != nil {
		writeError(w, statusOf(err), err)
		return nil, nil, false
	}
	return m, wt, true
}

// previewMJPEG is GET /v1/rooms/{room}/preview.mjpeg: the composite as a
// multipart/x-mixed-replace stream of JPEG frames (an <img> can show it).
func (s *Server) previewMJPEG(w http.ResponseWriter, r *http.Request) {
	m, wt, ok := s.openPreview(w, r)
	if !ok {
		return
	}
	defer s.unwatchPreview(m, wt)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell proxies not to buffer
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-wt.done:
			return
		case f := <-wt.frames:
			_ = rc.SetWriteDeadline(time.Now().Add(previewWriteWait))
			if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", mjpegBoundary, len(f)); err != nil {
				return
			}
			if _, err := w.Write(f); err != nil {
				return
			}
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// previewJPEG is GET /v1/rooms/{room}/preview.jpg: one current frame.
func (s *Server) previewJPEG(w http.ResponseWriter, r *http.Request) {
	m, wt, ok := s.openPreview(w, r)
	if !ok {
		return
	}
	defer s.unwatchPreview(m, wt)
	t := time.NewTimer(previewFirstFrameWait)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-wt.done:
		writeError(w, http.StatusServiceUnavailable, errPreviewClosed)
	case <-t.C:
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("preview: no frame within %s", previewFirstFrameWait))
	case f := <-wt.frames:
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(f)))
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(f)
	}
}
