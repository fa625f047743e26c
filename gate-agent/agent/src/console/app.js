// The officer console's page logic: log in, follow the lane over
// server-sent events, send actions with the session's CSRF token.
"use strict";
let session = null;
let source = null;
const $ = (id) => document.getElementById(id);

function text(el, t) { el.textContent = t == null ? "" : String(t); }

function row(tbody, label, value, cls) {
  const tr = document.createElement("tr");
  const th = document.createElement("th");
  const td = document.createElement("td");
  text(th, label);
  text(td, value);
  if (cls) td.className = cls;
  tr.append(th, td);
  tbody.append(tr);
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (session && method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await r.json(); } catch (_) { /* empty body */ }
  return { status: r.status, data };
}

function showLogin(msg) {
  session = null;
  if (source) { source.close(); source = null; }
  $("console").classList.add("hidden");
  $("logout").classList.add("hidden");
  $("login").classList.remove("hidden");
  text($("who"), "");
  text($("login-msg"), msg || "");
}

function showConsole(s) {
  session = s;
  $("login").classList.add("hidden");
  $("console").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  text($("title"), `卡口值班台 ${s.site} ${s.lane}`);
  text($("who"), `${s.officer} ${s.name || ""} (${s.role})`);
  const canAct = s.role === "officer";
  document.querySelectorAll("#act button").forEach((b) => { b.disabled = !canAct; });
  loadRecent();
  loadAlarms();
  if (!window.alarmTimer) window.alarmTimer = setInterval(() => { if (session) loadAlarms(); }, 5000);
  source = new EventSource("/api/stream");
  source.addEventListener("state", (e) => render(JSON.parse(e.data)));
  source.onerror = async () => {
    const r = await api("GET", "/api/session");
    if (r.status === 401) showLogin("会话已结束 Session ended");
  };
}

function fmtKg(v) { return v == null ? "-" : `${Math.round(v).toLocaleString()} kg`; }

function render(s) {
  const v = s.view;
  if (v.finished !== lastFinished) { lastFinished = v.finished; loadRecent(); }
  const st = $("state");
  text(st, v.state);
  st.className = "state " + (v.state === "hold" ? "hold" : (v.state === "release" || v.state === "inspect") ? "release" : "");
  text($("seq"), v.seq != null ? `#${v.seq}` : "");
  const hold = $("hold");
  if (v.hold) {
    hold.classList.remove("hidden");
    hold.replaceChildren();
    const h = document.createElement("div");
    text(h, `扣留 Held: ${v.hold.led}`);
    hold.append(h);
    for (const code of v.hold.reasons) {
      const d = document.createElement("div");
      const c = document.createElement("span");
      c.className = "code";
      text(c, code);
      const t = s.reasons[code];
      d.append(c, document.createTextNode(t ? t.led : ""));
      hold.append(d);
    }
    const details = (v.passage && v.passage.decision && v.passage.decision.details) || [];
    for (const line of details) {
      const d = document.createElement("div");
      d.className = "detail";
      text(d, line);
      hold.append(d);
    }
  } else {
    hold.classList.add("hidden");
  }
  const adm = $("admission");
  if (v.admission_stopped) { adm.classList.remove("hidden"); text(adm, `停止放车 Admission stopped: ${v.admission_stopped}`); }
  else adm.classList.add("hidden");

  const tb = $("passage").tBodies[0];
  tb.replaceChildren();
  const p = v.passage;
  if (!p) {
    row(tb, "", "车道空闲 No vehicle");
  } else {
    const id = p.identified || {};
    for (const pl of id.plates || []) row(tb, `车牌 Plate (${pl.camera})`, `${pl.text}  ${(pl.confidence * 100).toFixed(0)} %`);
    if (!(id.plates || []).length) row(tb, "车牌 Plate", "未识别 not read", "bad");
    if (id.trailer_plate) row(tb, "挂车 Trailer", `${id.trailer_plate.text}  ${(id.trailer_plate.confidence * 100).toFixed(0)} %`);
    for (const e of id.etags || []) row(tb, "电子车牌 E-tag", e);
    for (const c of id.containers || []) row(tb, `箱号 Container (${c.position})`, `${c.number}  ${(c.confidence * 100).toFixed(0)} %`);
    if (id.eseal) row(tb, "关锁 E-seal", `${id.eseal.id || ""} ${id.eseal.state || ""}`);
    if (id.weight) row(tb, "重量 Weight", `${fmtKg(id.weight.gross_kg)} ${id.weight.stable ? "stable" : "moving"}`);
    if (id.officer) {
      const e = id.officer.data || {};
      const typed = [e.plate, e.trailer_plate, ...(e.containers || []), e.etag, e.pass_no, e.eseal,
        e.gross_kg != null ? fmtKg(e.gross_kg) : null].filter((x) => x != null && x !== "");
      row(tb, `人工录入 Entered (${id.officer.officer})`, typed.join(", "), "hold");
    }
    const d = p.decision;
    if (d) {
      if (d.weight) row(tb, "申报 Declared", `${fmtKg(d.weight.expected_kg)} ± ${fmtKg(d.weight.tolerance_kg)} (measured ${fmtKg(d.weight.measured_kg)})`, d.weight.within ? "" : "bad");
      row(tb, "通行单 Gate pass", d.gate_pass || "无 none", d.gate_pass ? "" : "bad");
      row(tb, "判定 Decision", `${d.result} (${d.by})`, d.result === "hold" ? "hold" : "release");
      for (const code of d.reasons) {
        const t = s.reasons[code];
        row(tb, `${code} ${t ? t.led : ""}`, t ? t.condition : "", "cond");
      }
      for (const line of d.details || []) row(tb, "", line, "dim");
    }
    if (p.officer) row(tb, "关员 Officer", `${p.officer} ${p.note || ""}`);
  }

  const ph = $("photos");
  ph.replaceChildren();
  for (const photo of s.photos) {
    const f = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = photo.camera;
    img.src = `/api/photo/${encodeURIComponent(photo.camera)}?seq=${s.photos_seq}&n=${photo.bytes}`;
    const cap = document.createElement("figcaption");
    text(cap, photo.camera);
    f.append(img, cap);
    ph.append(f);
  }

  const dv = $("devices").tBodies[0];
  dv.replaceChildren();
  for (const d of s.devices) row(dv, d.name, d.up ? "正常 ok" : `故障 down ${d.last_error || ""}`, d.up ? "" : "bad");
  text($("platform"), `${v.link_connected ? "已连接 connected" : "未连接 unreachable"} · 白名单 whitelist v${v.whitelist_version} · outbox ${s.outbox_pressure} · 今日 ${v.finished} passages`);
}

let lastFinished = null;

async function loadRecent() {
  const r = await api("GET", "/api/passages");
  if (r.status !== 200) return;
  const tb = $("recent").tBodies[0];
  tb.replaceChildren();
  for (const p of r.data.passages) {
    const tr = document.createElement("tr");
    const cells = [`#${p.seq}`, p.plate || "-", `${p.result} ${p.reasons.join(" ")}${p.officer ? " · " + p.officer : ""}`, p.outcome];
    for (const c of cells) { const td = document.createElement("td"); text(td, c); tr.append(td); }
    const td = document.createElement("td");
    for (const cam of p.cameras) {
      const img = document.createElement("img");
      img.alt = `${p.seq} ${cam}`;
      img.src = `/api/passage/${encodeURIComponent(p.event_id)}/photo/${encodeURIComponent(cam)}`;
      td.append(img);
    }
    tr.append(td);
    if (p.result === "hold") tr.className = "hold";
    tb.append(tr);
  }
}

async function loadAlarms() {
  const r = await api("GET", "/api/alarms");
  if (r.status !== 200) return;
  text($("alarms-open"), r.data.open ? `${r.data.open} 未确认 open` : "");
  const tb = $("alarms").tBodies[0];
  tb.replaceChildren();
  const canAck = session && session.role !== "viewer";
  for (const a of r.data.alarms.slice(0, 12)) {
    const tr = document.createElement("tr");
    const t = document.createElement("td");
    text(t, a.at.slice(11, 19));
    const k = document.createElement("td");
    k.className = a.severity;
    text(k, `${a.kind}: ${a.detail}`);
    const st = document.createElement("td");
    if (a.acked_by) text(st, `✓ ${a.acked_by}`);
    else if (canAck) {
      const b = document.createElement("button");
      b.className = "warn";
      text(b, "确认 Ack");
      b.addEventListener("click", () => ackAlarm(a.id));
      st.append(b);
    } else text(st, "未确认 open");
    tr.append(t, k, st);
    tb.append(tr);
  }
}

async function ackAlarm(id) {
  const r = await api("POST", "/api/alarms/ack", { id, reason: $("reason").value || "acknowledged at the booth" });
  if (r.status === 401) return showLogin("会话已结束 Session ended");
  const m = $("msg");
  m.className = r.data.ok ? "" : "bad";
  text(m, r.data.ok ? `✓ ${r.data.detail}` : `✗ ${r.data.error}`);
  loadAlarms();
}

async function act(kind) {
  const body = { kind, reason: $("reason").value };
  if (kind === "entry") {
    body.plate = $("e-plate").value || null;
    body.trailer_plate = $("e-trailer").value || null;
    body.containers = $("e-containers").value.split(",").map((x) => x.trim()).filter(Boolean);
    body.etag = $("e-etag").value || null;
    body.pass_no = $("e-pass").value || null;
  }
  text($("msg"), "…");
  const r = await api("POST", "/api/action", body);
  if (r.status === 401) return showLogin("会话已结束 Session ended");
  const m = $("msg");
  m.className = r.data.ok ? "" : "bad";
  text(m, r.data.ok ? `✓ ${r.data.detail}` : `✗ ${r.data.error}`);
}

document.querySelectorAll("#act button").forEach((b) => b.addEventListener("click", () => act(b.dataset.kind)));

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await api("POST", "/api/login", { officer: $("officer").value, password: $("password").value });
  $("password").value = "";
  if (r.data.ok) showConsole(r.data); else text($("login-msg"), r.data.error || "登录失败 Login failed");
});

$("logout").addEventListener("click", async () => { await api("POST", "/api/logout", {}); showLogin(); });

(async () => {
  const r = await api("GET", "/api/session");
  if (r.data.ok) showConsole(r.data); else showLogin();
})();
