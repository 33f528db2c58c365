"use strict";
// The ser-edge page: model information, live hops over Server-Sent Events, and file uploads, all through the JSON API.
(() => {
  const token = new URLSearchParams(location.search).get("token");
  const auth = token ? { Authorization: "Bearer " + token } : {};
  const withToken = (url) => (token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url);
  const $ = (id) => document.getElementById(id);

  const PALETTE = {
    neutral: "#98a2b3", happy: "#f4a261", sad: "#457b9d", angry: "#e63946", fearful: "#8e44ad",
    disgust: "#2a9d8f", surprised: "#e9c46a", uncertain: "#cfd4dc", silence: "#eef0f3",
  };
  const WINDOW_MS = 3 * 60 * 1000; // the timeline shows the last three minutes
  let labels = [];
  let hopMs = 500;
  let source = null;
  const hops = []; // {t, label, confidence}, oldest first

  function colour(label) {
    if (PALETTE[label]) return PALETTE[label];
    let h = 0;
    for (const c of label) h = (h * 31 + c.charCodeAt(0)) % 360;
    return `hsl(${h}, 55%, 60%)`;
  }

  function paint(el, label) {
    el.textContent = label;
    el.style.background = colour(label);
    el.dataset.label = label;
  }

  async function api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...auth, ...(options.headers || {}) } });
    let body;
    try {
      body = await response.json();
    } catch {
      body = { error: `HTTP ${response.status} without a JSON body` };
    }
    return { ok: response.ok, status: response.status, body };
  }

  async function loadModel() {
    const { ok, body } = await api("api/model");
    if (!ok) {
      $("model-name").textContent = "cannot load the model information: " + body.error;
      return;
    }
    labels = body.labels;
    hopMs = body.decision.hop_s * 1000;
    $("model-name").textContent = body.name;
    $("model-detail").textContent = `${body.backend}, ${labels.length} emotions, 'uncertain' below ${body.decision.min_confidence}`;
    $("live-source").textContent = "· " + body.live_source;
    $("upload-limit").textContent = `up to ${(body.max_upload_bytes / 2 ** 20).toFixed(0)} MiB`;
    const legend = $("legend");
    legend.replaceChildren();
    for (const name of [...labels, "uncertain", "silence"]) {
      const li = document.createElement("li");
      li.textContent = name;
      li.style.background = colour(name);
      legend.append(li);
    }
    document.body.dataset.model = body.name;
    drawTimeline();
  }

  // ---- live ----
  function start() {
    if (source) return;
    source = new EventSource(withToken("api/live"));
    $("start").disabled = true;
    $("stop").disabled = false;
    $("live-status").textContent = "connecting…";
    source.addEventListener("status", () => ($("live-status").textContent = "listening"));
    source.addEventListener("hop", (e) => onHop(JSON.parse(e.data)));
    source.addEventListener("stopped", (e) => {
      const d = JSON.parse(e.data);
      stop(d.error ? "stopped: " + d.error : "stopped: " + d.reason);
    });
    source.onerror = () => {
      if (source && source.readyState === EventSource.CLOSED) stop("the server closed the stream");
      else if (source) $("live-status").textContent = "reconnecting…";
    };
  }

  function stop(message) {
    if (source) source.close();
    source = null;
    $("start").disabled = false;
    $("stop").disabled = true;
    $("live-status").textContent = typeof message === "string" ? message : "not listening";
  }

  function onHop(h) {
    const now = Date.now();
    hops.push({ t: now, label: h.label, confidence: h.confidence });
    while (hops.length && hops[0].t < now - WINDOW_MS) hops.shift();
    paint($("live-label"), h.label);
    const shown = h.label === "silence" ? 0 : h.confidence;
    $("live-confidence-bar").style.width = (shown * 100).toFixed(0) + "%";
    $("live-confidence").textContent = h.label === "silence" ? "confidence –" : `confidence ${h.confidence.toFixed(2)}`;
    $("live-level").textContent = `level ${h.level_db.toFixed(0)} dB`;
    $("live-hops").textContent = String(Number($("live-hops").textContent) + 1);
    $("live-status").textContent = h.overflow ? "listening (input overflow)" : "listening";
    drawTimeline();
  }

  function drawTimeline() {
    const canvas = $("timeline");
    const g = canvas.getContext("2d");
    const rows = [...labels, "uncertain", "silence"];
    const left = 86, axis = 20, W = canvas.width, H = canvas.height;
    const rowH = (H - axis) / Math.max(rows.length, 1);
    const plotW = W - left;
    const now = Date.now();
    g.clearRect(0, 0, W, H);
    g.font = "12px system-ui, 'DejaVu Sans', sans-serif";
    g.textBaseline = "middle";
    rows.forEach((name, i) => {
      g.fillStyle = i % 2 ? "#fafbfc" : "#f3f5f8";
      g.fillRect(left, i * rowH, plotW, rowH);
      g.fillStyle = "#475467";
      g.fillText(name, 6, i * rowH + rowH / 2);
    });
    g.fillStyle = "#667085";
    g.textBaseline = "top";
    for (let s = 0; s <= WINDOW_MS / 1000; s += 30) {
      const x = left + plotW - (s * 1000 / WINDOW_MS) * plotW;
      g.fillRect(x, 0, 1, H - axis);
      const text = s === 0 ? "now" : `-${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
      g.fillText(text, Math.min(x - 10, W - 28), H - axis + 4);
    }
    const barW = Math.max(2, (hopMs / WINDOW_MS) * plotW);
    for (const h of hops) {
      const row = rows.indexOf(h.label);
      if (row < 0) continue;
      const x = left + plotW - ((now - h.t) / WINDOW_MS) * plotW;
      g.globalAlpha = h.label === "silence" || h.label === "uncertain" ? 1 : 0.35 + 0.65 * h.confidence;
      g.fillStyle = h.label === "silence" ? "#b8bec8" : colour(h.label);
      g.fillRect(x - barW, row * rowH + 2, barW, rowH - 4);
    }
    g.globalAlpha = 1;
  }

  // ---- upload ----
  async function upload(file) {
    const status = $("upload-status");
    status.className = "";
    status.textContent = `scoring ${file.name} (${(file.size / 1024).toFixed(0)} KiB)…`;
    $("upload-result").hidden = true;
    document.body.dataset.upload = "pending";
    let answer;
    try {
      answer = await api("api/score?name=" + encodeURIComponent(file.name), {
        method: "POST",
        headers: { "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
    } catch (err) {
      answer = { ok: false, status: 0, body: { error: String(err) } };
    }
    if (!answer.ok) {
      status.className = "error";
      status.textContent = `${file.name}: not scored (HTTP ${answer.status}): ${answer.body.error}`;
      document.body.dataset.upload = "error";
      return;
    }
    status.textContent = "";
    showResult(answer.body);
    document.body.dataset.upload = "done";
  }

  function showResult(r) {
    paint($("upload-label"), r.label);
    $("upload-confidence").textContent = r.confidence == null ? "" : `confidence ${r.confidence.toFixed(2)}` + (r.label === "uncertain" ? `, likeliest ${r.emotion}` : "");
    $("upload-detail").textContent = `${r.path}: ${r.duration_s.toFixed(1)} s, ${r.speech_s.toFixed(1)} s of speech, ${r.n_windows} window${r.n_windows === 1 ? "" : "s"}` + (r.silent ? " (peak below -60 dBFS)" : "");
    const table = $("upload-probs");
    table.replaceChildren();
    for (const [name, p] of Object.entries(r.probabilities).sort((a, b) => b[1] - a[1])) {
      const tr = table.insertRow();
      tr.insertCell().textContent = name;
      const bar = tr.insertCell();
      bar.className = "bar";
      const fill = document.createElement("div");
      fill.style.width = (p * 100).toFixed(1) + "%";
      fill.style.background = colour(name);
      bar.append(fill);
      const cell = tr.insertCell();
      cell.className = "p";
      cell.textContent = p.toFixed(3);
    }
    drawSegments(r.segments || [], r.duration_s);
    $("upload-result").hidden = false;
  }

  function drawSegments(segments, duration) {
    const wrap = $("segments-wrap");
    wrap.hidden = segments.length < 2;
    if (wrap.hidden || !(duration > 0)) return;
    const bar = $("segments");
    const axis = $("segments-axis");
    bar.replaceChildren();
    axis.replaceChildren();
    segments.forEach((s, i) => {
      const end = i + 1 < segments.length ? segments[i + 1].start_s : s.end_s; // windows overlap: each shows until the next starts
      const el = document.createElement("div");
      el.className = "seg";
      el.style.left = (100 * s.start_s / duration) + "%";
      el.style.width = (100 * Math.max(end - s.start_s, 0) / duration) + "%";
      el.style.background = colour(s.label);
      el.style.opacity = String(0.35 + 0.65 * s.confidence);
      el.title = `${s.start_s.toFixed(1)}–${s.end_s.toFixed(1)} s: ${s.label} ${s.confidence.toFixed(2)}`;
      el.dataset.label = s.label;
      bar.append(el);
    });
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800].find((x) => duration / x <= 8) || 3600;
    for (let t = 0; t <= duration + 1e-9; t += step) {
      const tick = document.createElement("span");
      tick.style.left = (100 * t / duration) + "%";
      if (t === 0) tick.style.transform = "none";
      else if (t / duration > 0.95) tick.style.transform = "translateX(-100%)"; // keep the last one inside the bar
      tick.textContent = t >= 60 ? `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}` : `${t} s`;
      axis.append(tick);
    }
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  $("file-input").addEventListener("change", (e) => {
    if (e.target.files.length) upload(e.target.files[0]);
  });
  $("start").addEventListener("click", start);
  $("stop").addEventListener("click", () => stop());
  setInterval(drawTimeline, 1000); // scrolls even when no hop arrives
  loadModel();
})();
