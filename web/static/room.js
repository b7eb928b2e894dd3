// One room: live preview, layout control, participants with audio levels,
// recordings and the pipeline graph.
"use strict";

import {api, canControl, withToken} from "./api.js";
import {participantsOf} from "./rooms.js";
import {$, $$, bytes, duration, esc, playable, recordingURL, setHTML, since, time, toast} from "./util.js";

const TEMPLATES = [
  ["grid", "Grid"], ["speaker", "Speaker"], ["presentation", "Presentation"], ["pip", "Picture in picture"], ["single", "Single"],
];

const SIZES = [[1280, 720], [1920, 1080], [640, 360]];

const FORMATS = {
  mp4: {label: "MP4 · H.264", body: {kind: "composite"}},
  webm: {label: "WebM · VP8", body: {kind: "composite", format: "webm", video: {codec: "vp8"}}},
};

// Level meter scale: -60 dBFS (empty) to 0 dBFS (full).
const meterPct = (db) => Math.max(0, Math.min(100, (db + 60) / 60 * 100));

export class RoomView {
  constructor(root, id, events) {
    this.root = root;
    this.id = id;
    this.events = events;
    this.base = "/v1/rooms/" + encodeURIComponent(id);
    this.control = canControl(id);
    this.levels = {};
    this.speaker = "";
    this.spec = null;
    this.room = null;
    events.subscribe(id);
    const dis = this.control ? "" : `disabled title="Your token is read-only (viewer)"`;
    root.innerHTML = `
      ${this.control ? "" : `<div class="notice">Viewer access: you can watch this room; changing it needs an admin credential.</div>`}
      <div class="room-head">
        <h1>${esc(id)}</h1>
        <span class="muted" id="room-meta"></span>
      </div>
      <div class="room-grid">
        <section class="card stage-card">
          <div class="card-head"><h2>Live composite</h2><span class="muted small" id="layout-state"></span></div>
          <div class="stage">
            <img id="preview" alt="Live preview of the room's composite">
            <div class="stage-msg" id="stage-msg">Starting preview…</div>
          </div>
          <div class="controls">
            <div class="seg" id="layouts" role="group" aria-label="Layout">
              ${TEMPLATES.map(([t, label]) => `<button data-template="${t}" ${dis}>${label}</button>`).join("")}
            </div>
            <label class="focus">Focus <select id="focus" ${dis}><option value="">Automatic</option></select></label>
          </div>
        </section>
        <section class="card people-card">
          <div class="card-head"><h2>Participants</h2><span class="muted small" id="people-count"></span></div>
          <ul class="people" id="people"><li class="muted">Loading…</li></ul>
        </section>
        <section class="card recs-card">
          <div class="card-head"><h2>Recordings</h2>
            <div class="actions">
              <select id="rec-format" ${dis} aria-label="Composite format">${Object.entries(FORMATS).map(([k, f]) => `<option value="${k}">${f.label}</option>`).join("")}</select>
              <select id="rec-size" ${dis} aria-label="Composite size">${SIZES.map(([w, h]) => `<option value="${w}x${h}">${w}×${h}</option>`).join("")}</select>
              <button class="primary" id="start-composite" ${dis}>Record composite</button>
              <button id="start-tracks" ${dis}>Record tracks</button>
            </div>
          </div>
          <div id="recordings" class="recordings"><p class="muted">Loading…</p></div>
        </section>
        <section class="card info-card">
          <div class="card-head"><h2>Ingest</h2></div>
          <div id="ingest"></div>
        </section>
        <section class="card graph-card">
          <details id="graph">
            <summary><h2>Pipeline graph</h2></summary>
            <div class="row"><button id="graph-refresh">Refresh</button><a id="graph-open" target="_blank" rel="noopener">Open full size</a><span class="muted small" id="graph-state"></span></div>
            <div class="graph-box"><img id="graph-img" alt="GStreamer pipeline graph of the room"></div>
          </details>
        </section>
      </div>`;
    this.bind();
    this.startPreview();
    this.refresh();
    this.loadLayout();
    this.loadRecordings();
    this.timer = setInterval(() => { this.refresh(); this.loadRecordings(); }, 3000);
  }

  bind() {
    const r = this.root;
    $("#layouts", r).addEventListener("click", (e) => {
      const b = e.target.closest("button[data-template]");
      if (b) this.sendLayout(b.dataset.template, $("#focus", r).value);
    });
    $("#focus", r).addEventListener("change", (e) => this.sendLayout(this.spec?.template || "grid", e.target.value));
    $("#start-composite", r).addEventListener("click", (e) => {
      const body = structuredClone(FORMATS[$("#rec-format", r).value].body);
      const [width, height] = $("#rec-size", r).value.split("x").map(Number);
      body.video = {...(body.video || {}), width, height};
      this.startRecording(e.target, body);
    });
    $("#start-tracks", r).addEventListener("click", (e) => this.startRecording(e.target, {kind: "tracks"}));
    $("#recordings", r).addEventListener("click", (e) => {
      const b = e.target.closest("button[data-action]");
      if (!b) return;
      if (b.dataset.action === "stop") this.stopRecording(b, b.dataset.id);
      if (b.dataset.action === "play") play(b.dataset.path);
    });
    $("#graph", r).addEventListener("toggle", (e) => { if (e.target.open) this.loadGraph(); });
    $("#graph-refresh", r).addEventListener("click", () => this.loadGraph());
    const gi = $("#graph-img", r);
    gi.addEventListener("load", () => { $("#graph-state", r).textContent = "rendered " + new Date().toLocaleTimeString(); });
    gi.addEventListener("error", async () => {
      try { await api("GET", this.base + "/pipeline.svg"); } catch (e) { $("#graph-state", r).textContent = e.message; }
    });
  }

  // The preview is an MJPEG stream the browser decodes in an <img>; the
  // server runs the preview branch only while such a stream is open.
  startPreview() {
    const img = $("#preview", this.root);
    const msg = $("#stage-msg", this.root);
    img.onload = () => { msg.hidden = true; };
    img.onerror = async () => {
      if (this.closed) return;
      msg.hidden = false;
      msg.classList.add("error");
      try {
        await api("GET", this.base + "/preview.jpg");
        msg.textContent = "Preview interrupted; reconnecting…";
      } catch (e) {
        msg.textContent = "Preview unavailable: " + e.message;
      }
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.startPreview(), 3000);
    };
    msg.hidden = false;
    msg.classList.remove("error");
    msg.textContent = "Starting preview…";
    this.attempt = (this.attempt || 0) + 1; // a new URL per attempt: never a cached stream
    img.src = withToken(`${this.base}/preview.mjpeg?attempt=${this.attempt}`);
  }

  stopPreview() {
    clearTimeout(this.retry);
    const img = $("#preview", this.root);
    if (img) { img.onerror = null; img.removeAttribute("src"); }
  }

  onEvent(ev) {
    if (ev.type === "reconnected") { this.refresh(); this.loadLayout(); this.loadRecordings(); return; }
    if (ev.room !== this.id) return;
    switch (ev.type) {
      case "layout_changed": this.applyLayout(ev.data); break;
      case "active_speaker": this.speaker = ev.data?.participant || ""; this.paintLevels(); break;
      case "audio_levels": this.levels = ev.data?.levels || {}; this.speaker = ev.data?.speaker || ""; this.paintLevels(); break;
      case "room_closed": this.closedRoom(); break;
      default:
        if (ev.type.startsWith("track_")) this.refresh();
        if (ev.type.startsWith("recording_")) { this.loadRecordings(); this.refresh(); }
    }
  }

  closedRoom() {
    this.closed = true;
    this.stopPreview();
    const msg = $("#stage-msg", this.root);
    msg.hidden = false;
    msg.textContent = "This room was closed.";
    toast(`Room ${this.id} was closed`);
  }

  async refresh() {
    try {
      this.room = await api("GET", this.base);
    } catch (e) {
      setHTML($("#people", this.root), `<li class="error">${esc(e.message)}</li>`);
      if (e.status === 404 && !this.closed) this.closedRoom();
      return;
    }
    const r = this.room;
    $("#room-meta", this.root).textContent = `node ${r.node} · up ${since(r.created_at)}`;
    const ps = participantsOf(r);
    $("#people-count", this.root).textContent = ps.length ? String(ps.length) : "";
    setHTML($("#people", this.root), ps.map((p) => `<li class="person" data-participant="${esc(p.id)}">
        <div class="avatar">${esc(initials(p.name))}</div>
        <div class="pinfo"><div class="name">${esc(p.name)}${p.name !== p.id ? ` <span class="muted small">${esc(p.id)}</span>` : ""}</div>
          <div class="chips">${p.tracks.map(trackChip).join("")}</div></div>
        <div class="meter" title="Audio level"><i></i></div>
      </li>`).join("") || `<li class="muted">Nobody has joined.</li>`);
    this.paintLevels();
    const sel = $("#focus", this.root);
    const opts = `<option value="">Automatic</option>` + ps.map((p) => `<option value="${esc(p.id)}">${esc(p.name)}</option>`).join("");
    if (sel.__opts !== opts) {
      sel.innerHTML = opts;
      sel.__opts = opts;
      sel.value = this.spec?.focus || "";
    }
    const c = r.counters || {};
    setHTML($("#ingest", this.root), `<dl class="facts">
      <dt>RTP/RTCP</dt><dd><code>${esc(r.rtp.host)}:${r.rtp.port}</code></dd>
      <dt>Created</dt><dd>${esc(new Date(r.created_at).toLocaleString())}</dd>
      <dt>Datagrams</dt><dd>${c.datagrams ?? 0} (RTP ${c.rtp ?? 0}, RTCP ${c.rtcp ?? 0})</dd>
      <dt>Refused</dt><dd>${(c.malformed ?? 0) + (c.oversized ?? 0) + (c.unknown_ssrc ?? 0) + (c.foreign_source ?? 0) + (c.not_allowed ?? 0)}</dd>
      <dt>Feedback sent</dt><dd>${c.feedback_sent ?? 0}</dd></dl>
      <table class="tracks"><thead><tr><th>Track</th><th>Codec</th><th class="num">Packets</th><th class="num">Lost</th><th class="num" title="Packets asked for again (RTCP NACK)">NACKs</th><th class="num">Jitter</th></tr></thead><tbody>
      ${(r.tracks || []).map((t) => `<tr><td>${esc(t.id)}</td><td>${esc(t.codec)}</td><td class="num">${t.stats?.packets ?? 0}</td>
        <td class="num">${t.stats?.lost ?? 0}</td><td class="num">${t.stats?.nack_sent ?? 0}</td><td class="num">${(t.stats?.jitter_ms ?? 0).toFixed(1)} ms</td></tr>`).join("") || `<tr><td colspan="6" class="muted">No tracks.</td></tr>`}
      </tbody></table>`);
  }

  paintLevels() {
    for (const li of $$(".person", this.root)) {
      const p = li.dataset.participant;
      const db = this.levels[p] ?? -96;
      li.querySelector(".meter i").style.width = meterPct(db).toFixed(0) + "%";
      li.classList.toggle("speaking", p === this.speaker && p !== "");
    }
  }

  async loadLayout() {
    try {
      this.applyLayout(await api("GET", this.base + "/layout"));
    } catch (e) {
      $("#layout-state", this.root).textContent = e.message;
    }
  }

  applyLayout(l) {
    if (!l?.spec) return;
    this.spec = l.spec;
    for (const b of $$("#layouts button", this.root)) {
      b.classList.toggle("active", b.dataset.template === l.spec.template);
      b.setAttribute("aria-pressed", String(b.dataset.template === l.spec.template));
    }
    const sel = $("#focus", this.root);
    if (document.activeElement !== sel) sel.value = l.spec.focus || "";
    $("#layout-state", this.root).textContent = `${l.spec.template}${l.spec.focus ? " · focus " + l.spec.focus : ""}`;
  }

  async sendLayout(template, focus) {
    if (!this.control) { toast("Your token is read-only: it cannot change the layout", "error"); return; }
    const cur = this.spec || {};
    const spec = {template};
    if (focus) spec.focus = focus;
    for (const k of ["background", "gap", "fit", "labels"]) if (cur[k] !== undefined && cur[k] !== "" && cur[k] !== 0) spec[k] = cur[k];
    try {
      const ack = await this.events.send({type: "layout", room: this.id, layout: spec});
      this.applyLayout(ack.layout);
    } catch (e) {
      toast("Layout: " + e.message, "error");
      this.loadLayout();
    }
  }

  async loadRecordings() {
    let list;
    const box = $("#recordings", this.root);
    try {
      list = (await api("GET", this.base + "/recordings")).recordings;
    } catch (e) {
      setHTML(box, `<p class="error">${esc(e.message)}</p>`);
      this.recEls = null;
      return;
    }
    // A composite with "tracks": true also appears as a track recording under its id.
    const composites = new Set(list.filter((r) => r.kind === "composite").map((r) => r.id));
    list = list.filter((r) => r.kind === "composite" || !composites.has(r.id)).reverse();
    if (!list.length) {
      setHTML(box, `<p class="muted">No recordings yet.</p>`);
      this.recEls = null;
      return;
    }
    // Keyed, in-place updates: an article is rebuilt only when its shape
    // changes (state, files), durations and sizes are updated in place, so a
    // click on Stop or Play never lands on a node that was just replaced.
    if (!this.recEls) {
      box.innerHTML = "";
      box.__html = undefined;
      this.recEls = new Map();
    }
    const seen = new Set();
    let prev = null;
    for (const rec of list) {
      seen.add(rec.id);
      const {shape, html} = this.recordingHTML(rec);
      let el = this.recEls.get(rec.id);
      if (!el) {
        el = document.createElement("article");
        this.recEls.set(rec.id, el);
      }
      if (el.__shape !== shape) {
        el.className = "rec" + (rec.state === "recording" ? " active" : "");
        el.dataset.id = rec.id;
        el.innerHTML = html;
        el.__shape = shape;
      }
      (rec.files || []).forEach((f, i) => {
        const row = el.querySelectorAll("tr.file")[i];
        if (!row) return;
        row.querySelector(".dur").textContent = duration(f.duration_ms);
        row.querySelector(".size").textContent = bytes(f.bytes);
      });
      const want = prev ? prev.nextSibling : box.firstChild;
      if (want !== el) box.insertBefore(el, want);
      prev = el;
    }
    for (const [id, el] of this.recEls) {
      if (!seen.has(id)) { el.remove(); this.recEls.delete(id); }
    }
  }

  recordingHTML(rec) {
    const active = rec.state === "recording";
    const stopping = active && this.stopping?.has(rec.id);
    const files = rec.files || [];
    const dis = this.control ? "" : `disabled title="Your token is read-only (viewer)"`;
    const shape = JSON.stringify([rec.state, rec.error, stopping, files.map((f) => [f.path, f.state, f.error])]);
    const html = `
      <div class="rec-head">
        <span class="pill ${active ? "rec" : rec.state === "failed" ? "bad" : ""}">${active ? "● recording" : esc(rec.state)}</span>
        <strong>${esc(rec.id)}</strong>
        <span class="muted small">${esc(rec.kind === "composite" ? "composite" : "tracks" + (rec.mode ? " · " + rec.mode : ""))} · started ${time(rec.started_at)}</span>
        <span class="spacer"></span>
        ${active ? `<button class="danger stop-rec" data-action="stop" data-id="${esc(rec.id)}" ${stopping ? "disabled" : dis}>${stopping ? "Stopping…" : "Stop"}</button>` : ""}
      </div>
      ${rec.error ? `<p class="error small">${esc(rec.error)}</p>` : ""}
      <table class="files"><tbody>
      ${files.map((f) => `<tr class="file">
        <td class="path" title="${esc(f.path)}">${esc(f.path.split("/").pop())}</td>
        <td class="small muted">${esc(f.participant === "*" ? "all" : f.participant)} · ${esc(f.codec)}</td>
        <td class="num dur"></td>
        <td class="num size"></td>
        <td class="small ${f.state === "failed" ? "error" : "muted"}">${esc(f.state)}${f.error ? ": " + esc(f.error) : ""}</td>
        <td class="file-actions">${playable(f.path) ? `<button class="link" data-action="play" data-path="${esc(f.path)}">Play</button>` : ""}
          <a href="${esc(withToken(recordingURL(f.path)))}" download>Download</a></td></tr>`).join("") || `<tr><td class="muted">No files yet.</td></tr>`}
      </tbody></table>`;
    return {shape, html};
  }

  async startRecording(btn, body) {
    btn.disabled = true;
    try {
      const rec = await api("POST", this.base + "/recordings", body);
      toast(`Recording ${rec.id} started`);
    } catch (e) {
      toast("Start recording: " + e.message, "error");
    } finally {
      btn.disabled = !this.control;
      this.loadRecordings();
    }
  }

  async stopRecording(btn, id) {
    this.stopping = this.stopping || new Set();
    this.stopping.add(id);
    btn.disabled = true;
    btn.textContent = "Stopping…";
    try {
      const rec = await api("DELETE", this.base + "/recordings/" + encodeURIComponent(id));
      toast(`Recording ${rec.id} ${rec.state}`);
    } catch (e) {
      toast("Stop recording: " + e.message, "error");
      btn.disabled = !this.control;
      btn.textContent = "Stop";
    } finally {
      this.stopping.delete(id);
      this.loadRecordings();
    }
  }

  loadGraph() {
    const url = withToken(this.base + "/pipeline.svg");
    $("#graph-state", this.root).textContent = "rendering…";
    $("#graph-open", this.root).href = url;
    $("#graph-img", this.root).src = url + (url.includes("?") ? "&" : "?") + "t=" + Date.now();
  }

  destroy() {
    clearInterval(this.timer);
    this.stopPreview();
  }
}

function initials(name) {
  const parts = String(name).trim().split(/[\s._-]+/).filter(Boolean);
  return ((parts[0]?.[0] || "?") + (parts[1]?.[0] || "")).toUpperCase();
}

function trackChip(t) {
  const icon = t.kind === "video" ? (t.source === "screen" ? "screen" : "camera") : "mic";
  return `<span class="chip ${t.muted ? "muted-chip" : ""}" title="${esc(t.id)} · ${esc(t.codec)}">${icon}${t.muted ? " off" : ""}</span>`;
}

function play(path) {
  const dlg = document.getElementById("player");
  const v = document.getElementById("player-video");
  document.getElementById("player-title").textContent = path.split("/").pop();
  v.src = withToken(recordingURL(path));
  v.load();
  if (!dlg.open) dlg.showModal();
  v.play().catch(() => {}); // autoplay may be refused; the controls are there
}
