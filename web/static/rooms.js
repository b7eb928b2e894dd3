// The overview: every room this credential may see, and the nodes.
"use strict";

import {api, grant, seesAll} from "./api.js";
import {esc, since, setHTML, $} from "./util.js";

export function participantsOf(room) {
  const by = new Map();
  for (const t of room.tracks || []) {
    if (!by.has(t.participant)) by.set(t.participant, {id: t.participant, name: t.name || t.participant, tracks: []});
    const p = by.get(t.participant);
    if (t.name) p.name = t.name;
    p.tracks.push(t);
  }
  return [...by.values()];
}

// loadRooms lists rooms: all of them with a grant on "*", else the token's own.
export async function loadRooms() {
  if (seesAll()) return (await api("GET", "/v1/rooms")).rooms;
  const out = [];
  for (const id of grant().rooms) {
    try { out.push(await api("GET", "/v1/rooms/" + encodeURIComponent(id))); } catch (e) { if (e.status !== 404) throw e; }
  }
  return out;
}

export class RoomsView {
  constructor(root) {
    this.root = root;
    root.innerHTML = `
      <section class="card">
        <div class="card-head"><h2>Rooms</h2><span class="muted" id="rooms-count"></span></div>
        <div class="table-wrap"><table class="rooms">
          <thead><tr><th>Room</th><th>Node</th><th>Participants</th><th>Tracks</th><th>Recording</th><th>Uptime</th></tr></thead>
          <tbody id="rooms-body"><tr><td colspan="6" class="muted">Loading…</td></tr></tbody>
        </table></div>
        <p class="error" id="rooms-error"></p>
      </section>
      <section class="card">
        <div class="card-head"><h2>Nodes</h2></div>
        <div id="nodes" class="nodes"><p class="muted">Loading…</p></div>
        <p class="error" id="nodes-error"></p>
      </section>`;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), 3000);
  }

  onEvent(ev) {
    if (/^(room_|track_added|track_removed|recording_|reconnected)/.test(ev.type)) this.refresh();
  }

  async refresh() {
    try {
      const rooms = await loadRooms();
      // The room resource lists track recordings only; composites come
      // with the recordings list.
      await Promise.all(rooms.map(async (r) => {
        try {
          const {recordings} = await api("GET", "/v1/rooms/" + encodeURIComponent(r.id) + "/recordings");
          r.active = new Set(recordings.filter((x) => x.state === "recording").map((x) => x.id)).size;
        } catch {
          r.active = (r.recordings || []).filter((x) => x.state === "recording").length;
        }
      }));
      this.rooms = rooms;
      this.renderRooms();
      $("#rooms-error", this.root).textContent = "";
    } catch (e) {
      $("#rooms-error", this.root).textContent = e.message;
    }
    if (!seesAll()) {
      setHTML($("#nodes", this.root), `<p class="muted">The node list needs a grant on every room.</p>`);
      return;
    }
    try {
      const {nodes} = await api("GET", "/v1/nodes");
      setHTML($("#nodes", this.root), nodes.map((n) => {
        const pct = n.capacity ? Math.min(100, 100 * n.load / (0.8 * n.capacity)) : 0;
        return `<div class="node">
          <div class="row between"><strong>${esc(n.id)}</strong>${n.draining ? `<span class="pill warn">draining</span>` : `<span class="pill ok">live</span>`}</div>
          <div class="muted small">${esc(n.api || "")} · RTP ${esc(n.rtp_host)}</div>
          <div class="bar" title="${n.load.toFixed(2)} of ${(0.8 * n.capacity).toFixed(1)} usable cores"><i style="width:${pct.toFixed(1)}%"></i></div>
          <div class="small">${n.rooms} room${n.rooms === 1 ? "" : "s"} · load ${n.load.toFixed(2)} / ${n.capacity} cores</div>
        </div>`;
      }).join("") || `<p class="muted">No nodes.</p>`);
      $("#nodes-error", this.root).textContent = "";
    } catch (e) {
      $("#nodes-error", this.root).textContent = e.message;
    }
  }

  renderRooms() {
    const now = Date.now();
    const rows = this.rooms.map((r) => {
      const ps = participantsOf(r);
      const recs = r.active;
      return `<tr class="${r.state === "failed" ? "failed" : ""}">
        <td><a href="#/room/${encodeURIComponent(r.id)}" class="room-link">${esc(r.id)}</a>${r.state === "failed" ? ` <span class="pill bad">failed</span>` : ""}</td>
        <td>${esc(r.node)}</td>
        <td>${ps.length ? ps.map((p) => esc(p.name)).join(", ") : `<span class="muted">nobody</span>`}</td>
        <td class="num">${(r.tracks || []).length}</td>
        <td>${recs ? `<span class="pill rec">● ${recs}</span>` : `<span class="muted">—</span>`}</td>
        <td class="num">${since(r.created_at, now)}</td></tr>`;
    }).join("");
    setHTML($("#rooms-body", this.root), rows || `<tr><td colspan="6" class="muted">No rooms yet. Rooms are created by the SFU (POST /v1/rooms).</td></tr>`);
    $("#rooms-count", this.root).textContent = this.rooms.length ? `${this.rooms.length} room${this.rooms.length === 1 ? "" : "s"}` : "";
  }

  destroy() { clearInterval(this.timer); }
}
