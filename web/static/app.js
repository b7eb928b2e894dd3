"use strict";
// Minimal room overview: rooms, tracks with receive counters, recordings with files.
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

// With authentication on, the token comes from ?token=... once and is kept.
const params = new URLSearchParams(location.search);
if (params.get("token")) localStorage.setItem("streamline_token", params.get("token"));
const token = () => localStorage.getItem("streamline_token") || "";
const withToken = (url) => token() ? url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token()) : url;

async function api(path) {
  const res = await fetch(path, {headers: token() ? {Authorization: "Bearer " + token()} : {}});
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    const t = prompt("This Streamline server needs an API key or token:");
    if (t) { localStorage.setItem("streamline_token", t); }
  }
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function roomHTML(room) {
  const tracks = room.tracks.map((t) => `<tr><td>${esc(t.participant)}</td><td>${esc(t.id)}</td><td>${esc(t.codec)}</td>
    <td>${t.muted ? "muted" : "live"}</td><td>${t.stats?.packets ?? 0}</td><td>${t.stats?.lost ?? 0}</td></tr>`).join("");
  const recs = room.recordings.map((r) => `<li>${esc(r.id)} — ${esc(r.state)}<ul>${r.files.map((f) =>
    `<li><a href="${esc(withToken("/recordings/" + f.path))}">${esc(f.path)}</a> ${esc(f.codec)} ${(f.duration_ms / 1000).toFixed(1)} s</li>`).join("")}</ul></li>`).join("");
  return `<section class="room"><h2>${esc(room.id)}</h2><p>RTP ${esc(room.rtp.host)}:${room.rtp.port} ·
    <a href="${esc(withToken("/v1/rooms/" + encodeURIComponent(room.id) + "/pipeline.svg"))}">pipeline graph</a></p>
    <table><thead><tr><th>Participant</th><th>Track</th><th>Codec</th><th>State</th><th>Packets</th><th>Lost</th></tr></thead>
    <tbody>${tracks}</tbody></table><h3>Recordings</h3><ul>${recs || "<li>none</li>"}</ul></section>`;
}

async function refresh() {
  const main = document.getElementById("rooms");
  try {
    const {rooms} = await api("/v1/rooms");
    main.innerHTML = rooms.length ? rooms.map(roomHTML).join("") : "<p>No rooms yet.</p>";
    const h = await api("/healthz");
    document.getElementById("health").textContent = `node ${h.node} · ${h.rooms} room(s)`;
  } catch (e) {
    main.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}
refresh();
setInterval(refresh, 2000);
