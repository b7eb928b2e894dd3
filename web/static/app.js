// Streamline dashboard: a hash router over two views, sign-in, and the
// event socket shared by both.
"use strict";

import {api, Events, grant, setToken, setUnauthorizedHandler, token} from "./api.js";
import {RoomsView} from "./rooms.js";
import {RoomView} from "./room.js";
import {$, esc} from "./util.js";

let view = null;
let events = null;

function showWho() {
  const g = grant();
  const who = $("#who");
  if (g.kind === "none") who.textContent = "";
  else if (g.kind === "key") who.textContent = "API key";
  else who.innerHTML = `<span class="pill ${g.role === "admin" ? "ok" : "warn"}">${esc(g.role)}</span> ${esc(g.rooms.join(", "))}`;
  $("#signout").hidden = !token();
}

function route() {
  if (view) view.destroy();
  const root = $("#view");
  const m = location.hash.match(/^#\/room\/(.+)$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    $("#crumbs").innerHTML = `<a href="#/">Rooms</a><span>/</span><span>${esc(id)}</span>`;
    document.title = `${id} · Streamline`;
    view = new RoomView(root, id, events);
  } else {
    $("#crumbs").innerHTML = `<span>Rooms</span>`;
    document.title = "Streamline";
    view = new RoomsView(root);
  }
}

let loginOpen = false;
function askLogin(reason) {
  const dlg = $("#login");
  if (loginOpen) return;
  loginOpen = true;
  $("#login-error").textContent = token() ? (reason || "The stored credential was refused.") : "";
  $("#login-token").value = "";
  dlg.showModal();
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const t = $("#login-token").value.trim();
  if (!t) return;
  const old = token();
  setToken(t);
  try {
    // A credential is good when it can read something: the health check is
    // public, so try the room list, then (scoped tokens) one of its rooms.
    const g = grant();
    if (g.rooms.includes("*")) await api("GET", "/v1/rooms");
    else if (g.rooms.length) await api("GET", "/v1/rooms/" + encodeURIComponent(g.rooms[0])).catch((err) => { if (err.status !== 404) throw err; });
    else throw new Error("this token grants no rooms");
  } catch (err) {
    setToken(old);
    $("#login-error").textContent = err.message;
    return;
  }
  loginOpen = false;
  $("#login").close();
  location.reload();
});
$("#login").addEventListener("cancel", (e) => e.preventDefault());

$("#signout").addEventListener("click", () => { setToken(""); location.reload(); });
$("#player-close").addEventListener("click", () => $("#player").close());
$("#player").addEventListener("close", () => {
  if ($("#player").open) return; // already reopened for another file
  const v = $("#player-video");
  v.pause();
  v.removeAttribute("src"); // ends the download
  v.load();
});

setUnauthorizedHandler(askLogin);

async function start() {
  // With authentication on and no credential yet, ask before anything else.
  try {
    const res = await fetch("/v1/nodes", {headers: token() ? {Authorization: "Bearer " + token()} : {}});
    if (res.status === 401) {
      const body = await res.json().catch(() => ({}));
      askLogin(body.error);
      return;
    }
  } catch { /* unreachable: the views show it */ }
  showWho();
  events = new Events();
  events.onStatus((s) => {
    const c = $("#conn");
    c.className = "conn " + s;
    c.querySelector("span").textContent = s === "live" ? "live" : s === "offline" ? "reconnecting…" : "connecting…";
  });
  events.on((ev) => view && view.onEvent(ev));
  window.addEventListener("hashchange", route);
  route();
}

start();
