// affectedge caregiver dashboard: subscribes to <prefix>/+/{summary,state,status,settings,label/ack}
// over MQTT-over-WebSockets and draws one card per device, with label buttons (the caregiver role
// publishes <prefix>/<device>/label). Config: /config.json (written by
// `affectedge dashboard`), overridable with URL parameters broker, prefix, username, password.
"use strict";

const TREND_SPAN_S = 300;  // the chart shows at most the last five minutes of summaries
const TREND_MIN_SPAN_S = 30;  // and spans the data it has, at least this, so a short or fast run fills it
const EVENT_WORDS = {sensor_lost: "lost", sensor_up: "back", recording_ended: "recording ended",
                     sink_failed: "log writing failed", sink_recovered: "log writing again"};
const MODALITIES = ["face", "voice", "physiology"];
const devices = new Map();  // device id -> {el, tile, points, lastSeq, zone, status, lastAt}
const FLEET_FROM = 2;      // with this many devices the site overview shows a tile per device
const CARDS_UP_TO = 3;     // ... and the cards show only the selected device beyond this many
// How a tile sorts: a device in the red zone or offline stands out first, then yellow, ...
const URGENCY = {red: 0, offline: 1, yellow: 2, blue: 3, green: 4, none: 5};
let selected = null;
let mqttClient = null, feedPrefix = "affectedge";
const LABELS = ["blue", "green", "yellow", "red"];  // the buttons: the child's zone now, for the last LABEL_SPAN_S
const LABEL_SPAN_S = 10;

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
  const buttons = el.querySelector(".label-buttons");
  for (const label of LABELS) {
    const b = document.createElement("button");
    b.className = "label-button";
    b.dataset.label = label;
    b.textContent = label;
    b.title = `the child has been in the ${label} zone for the last ${LABEL_SPAN_S} s`;
    b.addEventListener("click", () => sendLabel(id, label));
    buttons.appendChild(b);
  }
  document.getElementById("empty")?.remove();
  document.getElementById("devices").appendChild(el);
  const tile = document.createElement("button");
  tile.className = "tile";
  tile.dataset.device = id;
  tile.innerHTML = '<span class="tile-name"></span><span class="tile-zone"></span><span class="tile-conf"></span>' +
                   '<span class="tile-sensors"></span><span class="tile-age"></span>';
  tile.querySelector(".tile-name").textContent = id;
  tile.addEventListener("click", () => { selected = id; layout(); el.scrollIntoView({block: "nearest"}); });
  document.getElementById("tiles").appendChild(tile);
  d = {el, tile, points: [], lastSeq: 0, zone: "none", status: "unknown", lastAt: null};
  devices.set(id, d);
  layout();
  return d;
}

function urgency(d) {
  return d.status === "offline" ? URGENCY.offline : URGENCY[d.zone] ?? URGENCY.none;
}

// The site overview: tiles sorted by urgency; beyond CARDS_UP_TO devices only the selected card shows.
function layout() {
  const many = devices.size >= FLEET_FROM;
  document.getElementById("fleet").hidden = !many;
  document.getElementById("fleet-count").textContent = `${devices.size} devices`;
  const sorted = [...devices.entries()].sort((a, b) => urgency(a[1]) - urgency(b[1]) || a[0].localeCompare(b[0]));
  const tiles = document.getElementById("tiles");
  sorted.forEach(([id, d], i) => {
    d.tile.style.order = String(i);
    d.tile.dataset.rank = String(i);
    d.el.hidden = devices.size > CARDS_UP_TO && id !== selected;
  });
  tiles.dataset.order = sorted.map(([id]) => id).join(",");
}

function showTile(d, s) {
  d.zone = s.zone || "none";
  d.lastAt = Date.now();
  d.tile.dataset.zone = d.zone;
  d.tile.querySelector(".tile-name").textContent = s.subject ? `${s.device} (${s.subject.slice(0, 6)})` : s.device;
  d.tile.querySelector(".tile-zone").textContent = s.zone ? s.zone : "no zone";
  d.tile.querySelector(".tile-conf").textContent = "conf " + s.confidence.toFixed(2);
  d.tile.querySelector(".tile-sensors").textContent = MODALITIES.filter(m => (s.coverage[m] || 0) > 0).join(" ") || "no sensor";
}

function tickAges() {
  for (const d of devices.values()) {
    if (d.lastAt === null) continue;
    const s = Math.round((Date.now() - d.lastAt) / 1000);
    d.tile.querySelector(".tile-age").textContent = s < 2 ? "just now" : `${s} s ago`;
  }
}
setInterval(tickAges, 1000);

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
  // Emotion labels come from the face (or a speech-emotion model): without either there is none.
  d.el.querySelector(".top").textContent = s.top_emotion
    ? "emotion: " + s.top_emotion.label + " " + s.top_emotion.probability.toFixed(2)
    : (s.zone_privacy ? "emotion: withheld (privacy)" : "emotion: not estimated (no face in view)");
  for (const chip of d.el.querySelectorAll(".sensor")) {
    chip.classList.toggle("live", (s.coverage[chip.dataset.modality] || 0) > 0);
  }
  showHeard(d, s);
  const evs = s.events.map(e => e.kind === "zone_change" ? `zone ${e.from} -> ${e.to}`
    : e.kind === "outbox_dropped" ? `${e.count} summaries dropped`
    : `${e.source || "device"}: ${EVENT_WORDS[e.kind] || e.kind.replace(/_/g, " ")}`);
  if (evs.length) d.el.querySelector(".events").textContent = evs.join(", ");
  const last = d.points.length ? d.points[d.points.length - 1].t : -Infinity;
  if (s.period_end < last) d.points = [];  // the device restarted and its clock began again
  d.points.push({t: s.period_end, v: s.valence ? s.valence.mean : null, a: s.arousal ? s.arousal.mean : null});
  d.points = d.points.filter(p => p.t >= s.period_end - TREND_SPAN_S);
  d.el.dataset.points = String(d.points.length);
  drawTrend(d);
  showTile(d, s);
  layout();
}

// What the microphone heard this period (crying, screaming, laughter, shouting): the event, its
// peak score and for how long. Distress first: it is what a caregiver must not miss.
const HEARD_WORDS = {distress: "crying or screaming", shouting: "shouting", laughter: "laughter"};
function showHeard(d, s) {
  const el = d.el.querySelector(".heard");
  const heard = s.vocal_events || {};
  const names = Object.keys(HEARD_WORDS).filter(n => heard[n]);
  el.dataset.heard = names.length ? names[0] : "none";
  el.textContent = names.map(n => `heard ${HEARD_WORDS[n]} (${heard[n].seconds.toFixed(1)} s, score ${heard[n].confidence.toFixed(2)})`).join("; ");
  d.tile.dataset.heard = el.dataset.heard;
}

function trendSpan(points) {
  const have = points.length ? points[points.length - 1].t - points[0].t : 0;
  return Math.min(TREND_SPAN_S, Math.max(TREND_MIN_SPAN_S, have));
}

function spanWords(s) {
  return s >= 120 ? `last ${Math.round(s / 60)} min` : `last ${Math.round(s)} s`;
}

function drawTrend(d) {
  const c = d.el.querySelector("canvas.trend");
  const g = c.getContext("2d");
  const w = c.width, h = c.height, pad = 10, left = 34;  // left: room for the value scale
  g.clearRect(0, 0, w, h);
  const y = v => h / 2 - (h / 2 - pad) * v;
  // Value scale: -1 .. +1 (valence: unpleasant .. pleasant; arousal: low .. high activation).
  g.font = "11px system-ui, sans-serif";
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const v of [1, 0.5, 0, -0.5, -1]) {
    g.strokeStyle = v === 0 ? "#aab0b8" : "#e5e8ec";
    g.lineWidth = 1;
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(w, y(v)); g.stroke();
    g.fillStyle = "#6b7280";
    g.fillText((v > 0 ? "+" : "") + v, left - 4, y(v));
  }
  const span = trendSpan(d.points);
  d.el.querySelector(".legend .span").textContent = spanWords(span);
  d.el.dataset.span = String(span);
  if (!d.points.length) return;
  const tEnd = d.points[d.points.length - 1].t, tStart = tEnd - span;
  const x = t => left + pad + (w - left - 2 * pad) * (t - tStart) / span;
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
  d.status = value;
  d.tile.classList.toggle("offline", value === "offline");
  d.tile.dataset.status = value;
  layout();
}

// A caregiver's label: published to the device's label topic (only the caregiver role may: the
// broker's ACL), stored on the device with its session time; the device's acknowledgement says so.
function sendLabel(id, label) {
  const d = devices.get(id);
  const status = d.el.querySelector(".label-status");
  if (!mqttClient || !mqttClient.connected) { status.textContent = "not sent: not connected"; return; }
  const press = {label, id: (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(16) + Math.random().toString(16).slice(2, 10)), span_s: LABEL_SPAN_S};
  status.textContent = `sending ${label} ...`;
  status.dataset.pending = press.id;
  mqttClient.publish(`${feedPrefix}/${id}/label`, JSON.stringify(press), {qos: 1}, err => {
    if (err) status.textContent = `not sent: ${err.message}`;
  });
}

function showLabelAck(d, a) {
  const status = d.el.querySelector(".label-status");
  status.dataset.status = a.status;
  status.dataset.labels = String(a.labels);
  status.textContent = a.status === "stored" ? `label stored (${a.labels} this session)`
    : a.status === "duplicate" ? `label already stored (${a.labels} this session)`
    : `label refused: ${a.reason}`;
}

function showSettings(d, s) {
  d.el.querySelector(".paused").hidden = !s.paused;
}

async function main() {
  const cfg = await loadConfig();
  const opts = {clientId: "affectedge-dashboard-" + Math.random().toString(16).slice(2, 10), reconnectPeriod: 2000, clean: true};
  if (cfg.username) { opts.username = cfg.username; opts.password = cfg.password || ""; }
  setConnection("connecting to " + cfg.broker + " ...", "conn-connecting");
  const client = mqtt.connect(cfg.broker, opts);
  mqttClient = client;
  feedPrefix = cfg.prefix;
  let lastError = null, everConnected = false;
  client.on("connect", () => {
    everConnected = true;
    lastError = null;
    setConnection("connected to " + cfg.broker, "conn-connected");
    client.subscribe(["summary", "state", "status", "settings", "label/ack"].map(k => `${cfg.prefix}/+/${k}`), {qos: 1});
  });
  // Say which URL is tried and why it fails: a browser gives no reason for a refused WebSocket,
  // so the likely one is named (no WebSocket listener on that broker, or the broker is down).
  const why = () => lastError ? lastError
    : everConnected ? "the connection dropped" : "nothing answers there: is the broker running with a WebSocket listener? (affectedge demo --dashboard starts one)";
  client.on("reconnect", () => setConnection("cannot reach " + cfg.broker + ": " + why() + "; retrying", "conn-connecting"));
  client.on("error", err => { lastError = err.message; setConnection("error from " + cfg.broker + ": " + err.message, "conn-error"); });
  client.on("close", () => setConnection("disconnected from " + cfg.broker + ": " + why() + "; retrying", "conn-error"));
  client.on("message", (topic, message) => {
    const parts = topic.split("/");
    let kind = parts.pop();
    if (kind === "ack" && parts[parts.length - 1] === "label") kind = "label/" + kind, parts.pop();
    const id = parts.pop();
    const d = deviceCard(id);
    const text = message.toString();
    try {
      if (kind === "status") showStatus(d, text);
      else if (kind === "summary" || kind === "state") showSummary(d, JSON.parse(text));
      else if (kind === "settings") showSettings(d, JSON.parse(text));
      else if (kind === "label/ack") showLabelAck(d, JSON.parse(text));
    } catch (e) {
      console.error("ignored a malformed message on " + topic, e);
    }
  });
}

main();
