// Small helpers shared by the views.
"use strict";

export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// setHTML replaces an element's content only when it changed, so periodic
// refreshes neither flicker nor reset scroll, focus or open menus.
export function setHTML(el, html) {
  if (el && el.__html !== html) {
    el.innerHTML = html;
    el.__html = html;
  }
}

export function since(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!t) return "—";
  let s = Math.max(0, Math.floor((now - t) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}:${String(s).padStart(2, "0")}`;
}

export function duration(ms) {
  if (!ms || ms < 0) return "—";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

export function bytes(n) {
  if (!n) return "—";
  const u = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export const time = (iso) => iso ? new Date(iso).toLocaleTimeString() : "—";

// toast shows a message for a while; errors stay longer. Toasts float over
// the page, so they never push content around.
export function toast(msg, kind = "info") {
  const box = document.getElementById("toasts");
  const el = document.createElement("div");
  el.className = "toast " + kind;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.innerHTML = `<span>${esc(msg)}</span><button class="link" aria-label="Dismiss">×</button>`;
  el.querySelector("button").onclick = () => el.remove();
  box.appendChild(el);
  while (box.children.length > 4) box.firstChild.remove();
  setTimeout(() => el.remove(), kind === "error" ? 10000 : 4000);
}

// recordingURL is where a recorded file (path relative to --data) is served.
export const recordingURL = (path) => "/recordings/" + path.split("/").map(encodeURIComponent).join("/");

export const playable = (path) => /\.(webm|mp4)$/i.test(path);
