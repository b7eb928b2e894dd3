package mocksfu

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// fakeServer implements the few Streamline REST endpoints the mock SFU uses
// and a real UDP socket as the room's RTP port. It records everything.
type fakeServer struct {
	t    *testing.T
	http *httptest.Server
	udp  *net.UDPConn
	done chan struct{}

	mu         sync.Mutex
	rooms      map[string]bool
	active     map[string]trackRequest // by track ID
	created    []trackRequest
	events     []apiEvent // every accepted mutating call, in order
	recordings map[string]bool
	rtp        map[uint32][]rxRTP
	rtcpPkts   []rxRTCP
	src        map[uint32]*net.UDPAddr // SSRC -> source address of its RTP
	badDgrams  int

	// failTrackCreate, if set, makes POST .../tracks fail with 400 and this message.
	failTrackCreate string
	// preexisting rooms answer 409 on POST.
	preexisting map[string]bool
}

type apiEvent struct {
	at     time.Time
	method string
	path   string
	muted  *bool
}

type rxRTP struct {
	at   time.Time
	from *net.UDPAddr
	hdr  rtp.Header
	pay  []byte
	size int
}

type rxRTCP struct {
	at   time.Time
	from *net.UDPAddr
	pkts []rtcp.Packet
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	f := &fakeServer{
		t: t, udp: udp, done: make(chan struct{}),
		rooms: map[string]bool{}, active: map[string]trackRequest{}, recordings: map[string]bool{},
		rtp: map[uint32][]rxRTP{}, src: map[uint32]*net.UDPAddr{}, preexisting: map[string]bool{},
	}
	f.http = httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	go f.readUDP()
	t.Cleanup(func() {
		f.http.Close()
		udp.Close()
		<-f.done
	})
	return f
}

func (f *fakeServer) port() int { return f.udp.LocalAddr().(*net.UDPAddr).Port }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeServer) roomJSON(id string) map[string]any {
	return map[string]any{"id": id, "rtp": map[string]any{"host": "127.0.0.1", "port": f.port()}, "state": "open"}
}

func (f *fakeServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bad := func(code int, msg string) { writeJSON(w, code, map[string]string{"error": msg}) }
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	ev := apiEvent{at: time.Now(), method: r.Method, path: r.URL.Path}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/rooms":
		var body struct{ ID string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID == "" {
			bad(400, "bad room body")
			return
		}
		if f.rooms[body.ID] || f.preexisting[body.ID] {
			f.rooms[body.ID] = true
			bad(409, "room exists")
			return
		}
		f.rooms[body.ID] = true
		f.events = append(f.events, ev)
		writeJSON(w, 201, f.roomJSON(body.ID))
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "rooms" && r.Method == http.MethodGet:
		if !f.rooms[parts[2]] {
			bad(404, "no such room")
			return
		}
		f.events = append(f.events, ev)
		writeJSON(w, 200, f.roomJSON(parts[2]))
	case len(parts) == 4 && parts[3] == "tracks" && r.Method == http.MethodPost:
		var tr trackRequest
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			bad(400, "bad json: "+err.Error())
			return
		}
		if f.failTrackCreate != "" {
			bad(400, f.failTrackCreate)
			return
		}
		if msg := validTrack(tr); msg != "" {
			bad(400, msg)
			return
		}
		if _, dup := f.active[tr.ID]; dup {
			bad(409, "track exists")
			return
		}
		f.active[tr.ID] = tr
		f.created = append(f.created, tr)
		f.events = append(f.events, ev)
		writeJSON(w, 201, tr)
	case len(parts) == 5 && parts[3] == "tracks" && r.Method == http.MethodDelete:
		if _, ok := f.active[parts[4]]; !ok {
			bad(404, "no such track")
			return
		}
		delete(f.active, parts[4])
		f.events = append(f.events, ev)
		w.WriteHeader(204)
	case len(parts) == 5 && parts[3] == "tracks" && r.Method == http.MethodPatch:
		var body struct {
			Muted *bool `json:"muted"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Muted == nil {
			bad(400, "want {\"muted\": bool}")
			return
		}
		if _, ok := f.active[parts[4]]; !ok {
			bad(404, "no such track")
			return
		}
		ev.muted = body.Muted
		f.events = append(f.events, ev)
		writeJSON(w, 200, map[string]any{"id": parts[4], "muted": *body.Muted})
	case len(parts) == 4 && parts[3] == "recordings" && r.Method == http.MethodPost:
		var body struct{ Kind string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Kind != "tracks" {
			bad(400, "want kind tracks")
			return
		}
		id := fmt.Sprintf("rec%d", len(f.recordings)+1)
		f.recordings[id] = true
		f.events = append(f.events, ev)
		writeJSON(w, 201, map[string]string{"id": id, "kind": "tracks"})
	case len(parts) == 5 && parts[3] == "recordings" && r.Method == http.MethodDelete:
		if !f.recordings[parts[4]] {
			bad(404, "no such recording")
			return
		}
		delete(f.recordings, parts[4])
		f.events = append(f.events, ev)
		w.WriteHeader(204)
	default:
		bad(404, "no route "+r.Method+" "+r.URL.Path)
	}
}

func validTrack(tr trackRequest) string {
	switch {
	case tr.ID == "" || tr.Participant == "" || tr.Name == "":
		return "id, participant and name are required"
	case tr.SSRC == 0:
		return "ssrc required"
	case tr.Kind == "video" && (tr.PayloadType != 96 || tr.ClockRate != 90000 || tr.Source != "camera"):
		return "bad video track parameters"
	case tr.Kind == "video" && tr.Codec != "vp8" && tr.Codec != "vp9" && tr.Codec != "h264":
		return "bad video codec"
	case tr.Kind == "audio" && (tr.PayloadType != 111 || tr.ClockRate != 48000 || tr.Source != "microphone" || tr.Codec != "opus"):
		return "bad audio track parameters"
	case tr.Kind != "video" && tr.Kind != "audio":
		return "bad kind"
	}
	return ""
}

func (f *fakeServer) readUDP() {
	defer close(f.done)
	buf := make([]byte, 2048)
	for {
		n, from, err := f.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		now := time.Now()
		b := append([]byte(nil), buf[:n]...)
		f.mu.Lock()
		if n >= 2 && b[1] >= 192 && b[1] <= 223 {
			pkts, err := rtcp.Unmarshal(b)
			if err != nil {
				f.badDgrams++
			} else {
				f.rtcpPkts = append(f.rtcpPkts, rxRTCP{at: now, from: from, pkts: pkts})
			}
		} else {
			var p rtp.Packet
			if err := p.Unmarshal(b); err != nil {
				f.badDgrams++
			} else {
				f.rtp[p.SSRC] = append(f.rtp[p.SSRC], rxRTP{at: now, from: from, hdr: p.Header, pay: p.Payload, size: n})
				if _, ok := f.src[p.SSRC]; !ok {
					f.src[p.SSRC] = from
				}
			}
		}
		f.mu.Unlock()
	}
}

// send sends an RTCP packet to addr from the room port, as the server would.
func (f *fakeServer) send(addr *net.UDPAddr, pkts ...rtcp.Packet) {
	f.t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		f.t.Fatalf("marshal rtcp: %v", err)
	}
	if _, err := f.udp.WriteToUDP(b, addr); err != nil {
		f.t.Fatalf("send rtcp: %v", err)
	}
}

func (f *fakeServer) packets(ssrc uint32) []rxRTP {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rxRTP(nil), f.rtp[ssrc]...)
}

func (f *fakeServer) createdTrack(id string) (trackRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.created) - 1; i >= 0; i-- {
		if f.created[i].ID == id {
			return f.created[i], true
		}
	}
	return trackRequest{}, false
}

func (f *fakeServer) eventsCopy() []apiEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiEvent(nil), f.events...)
}

func (f *fakeServer) sourceOf(ssrc uint32) *net.UDPAddr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.src[ssrc]
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
