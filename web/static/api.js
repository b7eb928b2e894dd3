// Talking to the Streamline API: credentials, REST calls and the event socket.
"use strict";

const TOKEN_KEY = "streamline_token";

// A token given once as ?token=… is kept and removed from the address bar.
{
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    localStorage.setItem(TOKEN_KEY, params.get("token"));
    params.delete("token");
    const q = params.toString();
    history.replaceState(null, "", location.pathname + (q ? "?" + q : "") + location.hash);
  }
}

export const token = () => localStorage.getItem(TOKEN_KEY) || "";
export const setToken = (t) => t ? localStorage.setItem(TOKEN_KEY, t) : localStorage.removeItem(TOKEN_KEY);

// What the credential allows, as far as the browser can tell. The server
// decides; this only greys out buttons it would refuse.
export function grant() {
  const t = token();
  if (!t) return {role: "admin", rooms: ["*"], kind: "none"};
  const parts = t.split(".");
  if (parts.length !== 3) return {role: "admin", rooms: ["*"], kind: "key"};
  try {
    const claims = JSON.parse(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
    return {role: claims.role === "admin" ? "admin" : "viewer", rooms: claims.rooms || [], kind: "token", sub: claims.sub || "", exp: claims.exp || 0};
  } catch {
    return {role: "viewer", rooms: [], kind: "token"};
  }
}

export const canControl = (room) => {
  const g = grant();
  return g.role === "admin" && (g.rooms.includes("*") || g.rooms.includes(room));
};
export const seesAll = () => grant().rooms.includes("*");

// withToken adds the credential to URLs the browser fetches by itself
// (images, video, downloads), which cannot carry an Authorization header.
export function withToken(url) {
  const t = token();
  return t ? url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(t) : url;
}

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export const setUnauthorizedHandler = (f) => { onUnauthorized = f; };

// api performs a request and returns the decoded JSON, or throws APIError
// with the server's {"error": …} message.
export async function api(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw new APIError(0, `${method} ${path}: server unreachable (${e.message})`);
  }
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = {error: text.trim()}; }
  if (res.status === 401) onUnauthorized(data.error);
  if (!res.ok) throw new APIError(res.status, data.error || `${method} ${path}: HTTP ${res.status}`);
  return data;
}

// Events keeps one WebSocket open, subscribed to the rooms this credential
// may see, reconnecting with backoff. Listeners get every event and reply.
export class Events {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.pending = new Map();
    this.seq = 0;
    this.delay = 500;
    this.rooms = new Set();
    this.connect();
  }
  on(f) { this.listeners.add(f); return () => this.listeners.delete(f); }
  onStatus(f) { this.statusListeners.add(f); f(this.status || "connecting"); }
  setStatus(s) { this.status = s; this.statusListeners.forEach((f) => f(s)); }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(withToken(`${proto}//${location.host}/v1/ws`));
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.setStatus("live");
      if (seesAll()) this.subscribe("*");
      else grant().rooms.forEach((r) => this.subscribe(r));
      this.rooms.forEach((r) => this.subscribe(r));
      this.listeners.forEach((f) => f({type: "reconnected"}));
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if ((ev.type === "ack" || ev.type === "error") && this.pending.has(ev.id)) {
        const {resolve, reject} = this.pending.get(ev.id);
        this.pending.delete(ev.id);
        ev.type === "ack" ? resolve(ev) : reject(new APIError(0, ev.error));
        return;
      }
      this.listeners.forEach((f) => f(ev));
    };
    ws.onclose = () => {
      this.setStatus("offline");
      for (const {reject} of this.pending.values()) reject(new APIError(0, "event connection lost"));
      this.pending.clear();
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  // send sends a message and resolves with its ack (rejects with its error).
  send(msg) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new APIError(0, "not connected to the server's event socket; retrying"));
        return;
      }
      const id = "m" + (++this.seq);
      this.pending.set(id, {resolve, reject});
      this.ws.send(JSON.stringify({...msg, id}));
      setTimeout(() => {
        if (this.pending.has(id)) {
          this.pending.delete(id);
          reject(new APIError(0, `no answer to ${msg.type} within 10 s`));
        }
      }, 10000);
    });
  }

  // subscribe to one room (for credentials that cannot subscribe to "*").
  subscribe(room) {
    if (room !== "*") this.rooms.add(room);
    if (this.ws && this.ws.readyState === WebSocket.OPEN && !(room !== "*" && seesAll())) {
      this.send({type: "subscribe", room}).catch(() => {});
    }
  }
}
