// affectedge caregiver dashboard: subscribes to <prefix>/+/{summary,state,status,settings} over
// MQTT-over-WebSockets and draws one card per device. Config: /config.json (written by
// `affectedge dashboard`), overridable with URL parameters broker, prefix, username, password.
"use strict";

const TREND_SPAN_S = 300;  // the chart shows the last five minutes of summaries
const MODALITIES = ["face", "voice", "physiology"];
const devices = new Map();  // device id -> {el, points, lastSeq}

async function loadConfig() {
  let cfg = {broker: "ws://" + location.hostname + ":9001", prefix: "affectedge", username: null, password: null};
  try {
    const r = await fetch("config.json", {cache: "no-store"});
    if (r.ok) cfg = Object.assign(cfg, await r.json());
  } catch (e) { /* served by a plain web server: defaults and URL parameters only */ }
  const q = new URLSearchParams(location.search);
  for (const k of ["broker", "prefix", "username", "password"]) if (q.has(k)) cfg[k] = q.get(k);
  return cfg;
}

function setConnection(text, cls) {
  const el = document.getElementById("connection");
  el.textContent = text;
  el.className = "conn " + cls;
}

function deviceCard(id) {
  let d = devices.get(id);
  if (d) return d;
  const el = document.getElementById("device-template").content.firstElementChild.cloneNode(true);
  el.id = "device-" + id;
  el.dataset.device = id;
  el.querySelector(".device-id").textContent = id;
  const sensors = el.querySelector(".sensors");
  for (const m of MODALITIES) {
    const chip = document.createElement("span");
    chip.className = "sensor";
    chip.dataset.modality = m;
    chip.textContent = m;
    sensors.appendChild(chip);
  }
  document.getElementById("empty")?.remove();
  document.getElementById("devices").appendChild(el);
  d = {el, points: [], lastSeq: 0};
  devices.set(id, d);
  return d;
}

function fmt(x, digits = 2) {
  return x === null || x === undefined ? "-" : (x >= 0 ? "+" : "") + x.toFixed(digits);
}

function showSummary(d, s) {
  if (s.seq <= d.lastSeq) return;  // at-least-once delivery and the retained state repeat old ones
  d.lastSeq = s.seq;
  const zone = d.el.querySelector(".zone");
  zone.dataset.zone = s.zone || "none";
  zone.querySelector(".zone-name").textContent = s.zone ? s.zone + " zone" : "no zone";
  d.el.querySelector(".confidence").textContent = "confidence " + s.confidence.toFixed(2);
  d.el.querySelector(".top").textContent = s.top_emotion
    ? s.top_emotion.label + " " + s.top_emotion.probability.toFixed(2) : "-";
  for (const chip of d.el.querySelectorAll(".sensor")) {
    chip.classList.toggle("live", (s.coverage[chip.dataset.modality] || 0) > 0);
  }
  const evs = s.events.map(e => e.kind === "zone_change" ? `zone ${e.from} -> ${e.to}`
    : e.kind === "outbox_dropped" ? `${e.count} summaries dropped` : `${e.source} ${e.kind === "sensor_lost" ? "lost" : "back"}`);
  if (evs.length) d.el.querySelector(".events").textContent = evs.join(", ");
  const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
  if (s.period_end < last) d.points = [];  // the device restarted and its clock began again
  d.points.push({t: s.period_end, v: s.valence ? s.valence.mean : null, a: s.arousal ? s.arousal.mean : null});
  d.points = d.points.filter(p => p.t >= s.period_end - TREND_SPAN_S);
  d.el.dataset.points = String(d.points.length);
  drawTrend(d);
}

function drawTrend(d) {
  const c = d.el.querySelector("canvas.trend");
  const g = c.getContext("2d");
  const w = c.width, h = c.height, pad = 8;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#d0d4d9";
  g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();  // zero line
  if (!d.points.length) return;
  const tEnd = d.points[d.points.length - 1].t, tStart = tEnd - TREND_SPAN_S;
  const x = t => pad + (w - 2 * pad) * (t - tStart) / TREND_SPAN_S;
  const y = v => h / 2 - (h / 2 - pad) * v;
  for (const [key, colour] of [["v", "#7b3fbf"], ["a", "#e07b00"]]) {
    g.strokeStyle = colour;
    g.fillStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    let drawing = false;
    for (const p of d.points) {
      if (p[key] === null) { drawing = false; continue; }
      if (drawing) g.lineTo(x(p.t), y(p[key])); else g.moveTo(x(p.t), y(p[key]));
      drawing = true;
    }
    g.stroke();
    const lastP = [...d.points].reverse().find(p => p[key] !== null);
    if (lastP) { g.beginPath(); g.arc(x(lastP.t), y(lastP[key]), 3, 0, 2 * Math.PI); g.fill(); }
  }
}

function showStatus(d, value) {
  const st = d.el.querySelector(".status");
  st.textContent = value;
  st.className = "status " + value;
  d.el.classList.toggle("offline", value === "offline");
}

function showSettings(d, s) {
  d.el.querySelector(".paused").hidden = !s.paused;
}

async function main() {
  const cfg = await loadConfig();
  const opts = {clientId: "affectedge-dashboard-" + Math.random().toString(16).slice(2, 10), reconnectPeriod: 2000, clean: true};
  if (cfg.username) { opts.username = cfg.username; opts.password = cfg.password || ""; }
  const client = mqtt.connect(cfg.broker, opts);
  client.on("connect", () => {
    setConnection("connected to " + cfg.broker, "conn-connected");
    client.subscribe(["summary", "state", "status", "settings"].map(k => `${cfg.prefix}/+/${k}`), {qos: 1});
  });
  client.on("reconnect", () => setConnection("reconnecting...", "conn-connecting"));
  client.on("error", err => setConnection("error: " + err.message, "conn-error"));
  client.on("close", () => setConnection("disconnected", "conn-error"));
  client.on("message", (topic, message) => {
    const parts = topic.split("/");
    const kind = parts.pop(), id = parts.pop();
    const d = deviceCard(id);
    const text = message.toString();
    try {
      if (kind === "status") showStatus(d, text);
      else if (kind === "summary" || kind === "state") showSummary(d, JSON.parse(text));
      else if (kind === "settings") showSettings(d, JSON.parse(text));
    } catch (e) {
      console.error("ignored a malformed message on " + topic, e);
    }
  });
}

main();
