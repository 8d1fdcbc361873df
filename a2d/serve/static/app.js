// The page of `a2d serve`: upload sounds, follow each job's events, show and download results.
// Plain DOM code, no framework, nothing from the network but this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { options: null, jobs: new Map() };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child != null) node.append(child);
  }
  return node;
}

function clientId() {
  let id = sessionStorage.getItem("a2d-client");
  if (!id) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem("a2d-client", id);
  }
  return id;
}

async function api(path, init) {
  const response = await fetch(path, init);
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error ? body.error : `the server answered ${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

function fileUrl(jobId, name) {
  return `/api/jobs/${jobId}/files/${encodeURIComponent(name)}`;
}

// -- the form ---------------------------------------------------------------------------------

function fillModels() {
  const synth = $("#synth").value;
  const models = state.options.models.filter((m) => m.synth === synth);
  const select = $("#model");
  select.replaceChildren(...models.map((m) => el("option", { value: m.id, textContent: m.label })));
  const info = state.options.synths.find((s) => s.name === synth);
  $("#synth-note").textContent = info && !models.length ? info.reason : "";
  $("#go").disabled = !models.length;
  showLimits();
}

function showLimits() {
  const lim = state.options.limits;
  const model = state.options.models.find((m) => m.id === $("#model").value);
  $("#limits").textContent =
    `WAV, FLAC, OGG or MP3; up to ${lim.max_upload_mb} MB and ${lim.max_seconds} s each.` +
    (model
      ? ` Each sound: ${state.options.matching.candidates} candidates from the model, then ` +
        `${model.refine} renders refining the best on the synth.`
      : "");
}

async function loadOptions() {
  state.options = await api("/api/options");
  const synths = $("#synth");
  synths.replaceChildren(
    ...state.options.synths.map((s) =>
      el("option", {
        value: s.name,
        disabled: !s.available || !s.models,
        textContent: s.label + (s.available ? (s.models ? "" : " (no model)") : " (not installed)"),
      }),
    ),
  );
  const first = state.options.synths.find((s) => s.available && s.models);
  if (first) synths.value = first.name;
  fillModels();
}

function showFormError(message) {
  const p = $("#form-error");
  p.textContent = message;
  p.hidden = !message;
}

async function submitFiles(files) {
  showFormError("");
  if (!files.length) {
    showFormError("Choose or drop at least one sound file first.");
    $("#files").focus();
    return;
  }
  const model = $("#model").value;
  for (const file of files) {
    const card = newCard(file.name);
    try {
      const query = new URLSearchParams({ name: file.name, model, client: clientId() });
      const job = await api(`/api/jobs?${query}`, {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: file,
      });
      track(job, card);
    } catch (err) {
      card.fail(err.message);
    }
  }
  $("#files").value = "";
  $("#picked").textContent = "";
}

// -- one job ----------------------------------------------------------------------------------

function newCard(name) {
  const heading = el("h2", { textContent: name });
  const status = el("p", { class: "state", role: "status", textContent: "Uploading…" });
  const bar = el("progress", { max: 1, "aria-label": `Progress of ${name}` });
  const cancel = el("button", { type: "button", class: "secondary", textContent: "Cancel", hidden: true });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const body = el("div", { class: "result" });
  const article = el("article", { class: "job" }, heading, el("div", { class: "status" }, status, bar, cancel), error, body);
  const id = `job-${Math.random().toString(36).slice(2)}`;
  heading.id = id;
  article.setAttribute("aria-labelledby", id);
  $("#results").prepend(article);
  const card = {
    article, heading, status, bar, cancel, error, body, source: null, job: null,
    fail(message) {
      status.textContent = "Failed";
      bar.hidden = true;
      cancel.hidden = true;
      error.textContent = message;
      error.hidden = false;
      article.dataset.state = "failed";
    },
  };
  return card;
}

function track(job, card) {
  card.job = job;
  card.article.dataset.job = job.id;
  card.article.dataset.state = job.state;
  card.heading.textContent = job.refined_from ? `${job.name} (refined further)` : job.name;
  card.heading.append(el("span", { class: "muted", textContent: ` · ${job.model_label}` }));
  state.jobs.set(job.id, card);
  saveUrl();
  card.cancel.hidden = false;
  card.cancel.onclick = async () => {
    card.cancel.disabled = true;
    try {
      await api(`/api/jobs/${job.id}`, { method: "DELETE" });
    } catch (err) {
      card.fail(err.message);
    }
  };
  if (job.state === "done") return showResult(card, job);
  if (job.state === "failed") return card.fail(job.error);
  if (job.state === "cancelled") return cancelled(card);
  listen(card);
}

function cancelled(card) {
  card.status.textContent = "Cancelled";
  card.bar.hidden = true;
  card.cancel.hidden = true;
  card.article.dataset.state = "cancelled";
}

function listen(card) {
  const id = card.job.id;
  const source = new EventSource(`/api/jobs/${id}/events`);
  card.source = source;
  source.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    card.article.dataset.state = event.state;
    if (event.type === "queued") card.status.textContent = "Queued";
    else if (event.type === "waiting") card.status.textContent = event.ahead ? `Waiting: ${event.ahead} job(s) ahead` : "Next";
    else if (event.type === "running") card.status.textContent = "Starting";
    else if (event.type === "phase") {
      card.status.textContent = `Step ${event.step} of ${event.steps}: ${event.label}`;
      card.bar.max = event.steps;
      card.bar.value = Math.max(0, event.step - 1);
    } else if (["done", "failed", "cancelled"].includes(event.type)) {
      source.close();
      if (event.type === "done") showResult(card, await api(`/api/jobs/${id}`));
      else if (event.type === "failed") card.fail(event.error);
      else cancelled(card);
    }
  };
  source.onerror = async () => {
    if (source.readyState === EventSource.CLOSED) {
      try {
        const job = await api(`/api/jobs/${id}`);
        if (job.state === "done") showResult(card, job);
        else if (job.state === "failed") card.fail(job.error);
        else card.fail("the progress stream closed; reload the page to follow this job again");
      } catch (err) {
        card.fail(err.message);
      }
    } else {
      card.status.textContent = "Connection lost; reconnecting…";
    }
  };
}

function plot(jobId, axes, image, label) {
  const yt = el("div", { class: "yt", "aria-hidden": "true" });
  for (const [pos, text] of axes.freq_hz) {
    const span = el("span", { textContent: text });
    span.style.bottom = `${pos}%`;
    yt.append(span);
  }
  const xt = el("div", { class: "xt", "aria-hidden": "true" });
  for (const [pos, text] of axes.time_s) {
    const span = el("span", { textContent: text });
    span.style.left = `${pos}%`;
    xt.append(span);
  }
  const img = el("img", {
    src: fileUrl(jobId, image), width: 440, height: 200,
    alt: `Spectrogram of ${label}: frequency (Hz, log-mel scale) against time (s), ` +
      `${Math.round(axes.db[0])} to ${Math.round(axes.db[1])} dB`,
  });
  return el("figure", { class: "plot" },
    el("div", { class: "ylab", "aria-hidden": "true", textContent: "Hz" }), yt, img, xt,
    el("div", { class: "xlab", "aria-hidden": "true", textContent: "time (s)" }));
}

function capital(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function showResult(card, job) {
  const r = job.result;
  const id = job.id;
  card.job = job;
  card.article.dataset.state = "done";
  const seconds = Object.values(r.timings_s).reduce((a, b) => a + b, 0);
  card.status.textContent = `Done in ${seconds.toFixed(1)} s`;
  card.bar.max = 1;
  card.bar.value = 1;
  card.bar.hidden = true;
  card.cancel.hidden = true;
  const play = capital(r.note.play);
  const link = (name, text) => el("a", { href: fileUrl(id, name), download: name, textContent: text });
  const parts = [];
  if (r.demo_model) {
    parts.push(el("p", { class: "warn", textContent: "Demo model: a tiny model trained in minutes; expect a rough match." }));
  }
  parts.push(
    el("p", { class: "play" }, el("strong", { textContent: `${play}.` })),
    el("p", { class: "muted", textContent:
      (r.pitch_plan ? `${r.pitch_plan}. ` : "") +
      `a2d names middle C (MIDI 60) C4; Ableton Live and FL Studio call it C3, one octave lower.` }),
    el("p", { class: "score", textContent: `Best match: ${r.score.mss_db.toFixed(2)} dB MSS, ${r.score.in_words}.` }),
    el("ul", { class: "downloads", "aria-label": "Downloads" },
      el("li", {}, link(r.preset, `Download the preset (${r.preset})`)),
      el("li", {}, link(r.midi, `the MIDI note (${r.midi})`)),
      el("li", {}, link(r.render, `the render (${r.render})`)),
      el("li", {}, el("a", { href: fileUrl(id, r.report), target: "_blank", rel: "noopener", textContent: "the full report" }))),
  );
  const cards = [
    el("section", { class: "card", "aria-label": "Your sound" },
      el("h3", { textContent: "Your sound (as matched)" }),
      plot(id, r.axes, r.input.spectrogram, "your sound"),
      el("audio", { controls: true, preload: "metadata", src: fileUrl(id, r.input.audio), "aria-label": "Play your sound" })),
  ];
  for (const c of r.candidates) {
    const title = `Match #${c.rank}`;
    cards.push(
      el("section", { class: "card candidate", "aria-label": title, "data-rank": c.rank },
        el("h3", { textContent: `${title}: ${c.mss_db.toFixed(2)} dB` }),
        plot(id, r.axes, c.spectrogram, title),
        el("audio", { controls: true, preload: "metadata", src: fileUrl(id, c.render), "aria-label": `Play match #${c.rank}` }),
        el("p", { class: "muted", textContent: c.in_words }),
        c.note ? el("p", { class: "note", textContent: `${capital(c.note.play)}.` }) : null,
        link(c.preset, `Download match #${c.rank}'s preset`)),
    );
  }
  const more = el("button", { type: "button", class: "secondary", textContent: `Refine further (${state.options ? state.options.matching.refine_more : ""} renders)` });
  more.onclick = async () => {
    more.disabled = true;
    const next = newCard(job.name);
    try {
      track(await api(`/api/jobs/${id}/refine?client=${clientId()}`, { method: "POST" }), next);
    } catch (err) {
      next.fail(err.message);
    }
    more.disabled = false;
  };
  const scale = el("p", { class: "muted", textContent:
    `Spectrograms: log-mel power, the matches loudness-matched to your sound as scored, on one ` +
    `colour scale from ${Math.round(r.axes.db[0])} dB (dark blue) to ${Math.round(r.axes.db[1])} dB (yellow).` });
  card.body.replaceChildren(...parts.filter(Boolean), scale, el("div", { class: "cards" }, cards), el("p", {}, more));
}

// -- the URL keeps the jobs, so a reload shows them again ------------------------------------

function saveUrl() {
  const params = new URLSearchParams();
  for (const id of state.jobs.keys()) params.append("job", id);
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

async function restore() {
  const ids = new URLSearchParams(location.search).getAll("job").filter((id) => /^[0-9a-f]{32}$/.test(id));
  for (const id of ids) {
    const card = newCard("…");
    try {
      track(await api(`/api/jobs/${id}`), card);
    } catch (err) {
      card.heading.textContent = "An earlier job";
      card.fail(err.message);
    }
  }
}

// -- wiring -----------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  const input = $("#files");
  const drop = $("#drop");
  input.addEventListener("change", () => {
    $("#picked").textContent = Array.from(input.files, (f) => f.name).join(", ");
  });
  $("#synth").addEventListener("change", fillModels);
  $("#model").addEventListener("change", showLimits);
  $("#upload").addEventListener("submit", (event) => {
    event.preventDefault();
    submitFiles(Array.from(input.files));
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    submitFiles(Array.from(event.dataTransfer.files));
  });
  try {
    await loadOptions();
  } catch (err) {
    showFormError(`Cannot read the server's options: ${err.message}`);
  }
  await restore();
});
