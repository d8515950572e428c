// The studio page: picks inputs, sends a job to /api/jobs, watches it over its WebSocket
// (JSON progress and binary JPEG frames) and lists past jobs. Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
// The options the main controls set; "More options" lists the rest.
const MAIN_OPTIONS = ["size", "iterations", "style-weight", "colors", "style-scale", "device", "style-blend"];

const studio = {
  options: null,          // /api/options
  defaultStyleWeight: 1,  // the CLI's default beta, from /api/options
  content: null,          // {file, url}
  styles: [],             // [{file, url, weight}]
  inputsChanged: true,    // inputs picked since the selected job was sent
  job: null,              // the selected job's record
  socket: null,
  frames: 0,
  points: [],             // [step, loss]
  progress: null,
  settingsError: "",
};

// ---------------------------------------------------------------- settings

// The slider's middle is the CLI's default beta; each end is a hundredfold less or more.
function styleWeight() {
  const t = Number($("balance").value);
  return Number((studio.defaultStyleWeight * Math.pow(10, (t - 50) / 25)).toPrecision(3));
}

function balanceFor(weight) {
  return Math.round(50 + 25 * Math.log10(weight / studio.defaultStyleWeight));
}

function colors() {
  const on = document.querySelector("#colors button.on");
  return on ? on.dataset.value : "style";
}

function settings() {
  const chosen = {
    "size": Number($("size").value),
    "iterations": Number($("iterations").value),
    "style-weight": styleWeight(),
    "colors": colors(),
    "style-scale": Number($("style-scale").value),
    "backend": $("backend").value,
    "device": $("device").value,
  };
  if (studio.styles.length > 1) {
    chosen["style-blend"] = studio.styles.map((s) => Number(s.weight));
  }
  for (const input of document.querySelectorAll("#more-options [data-option]")) {
    const name = input.dataset.option;
    if (input.type === "checkbox") {
      if (input.checked) chosen[name] = true;
    } else if (input.value.trim() !== "") {
      chosen[name] = input.value.trim();
    }
  }
  return chosen;
}

function applySettings(given) {
  const value = (name) => given[name] ?? given[name.replace(/-/g, "_")];
  if (value("size") !== undefined) $("size").value = value("size");
  if (value("iterations") !== undefined) $("iterations").value = value("iterations");
  if (value("style-weight") !== undefined) $("balance").value = balanceFor(Number(value("style-weight")));
  if (value("style-scale") !== undefined) $("style-scale").value = value("style-scale");
  if (value("colors") !== undefined) setColors(value("colors"));
  for (const input of document.querySelectorAll("#more-options [data-option]")) {
    const v = value(input.dataset.option);
    if (input.type === "checkbox") input.checked = v === true;
    else if (!(input.dataset.option in studio.options.studio_defaults)) input.value = v === undefined ? "" : String(v);
  }
  showControlValues();
}

function setColors(mode) {
  for (const b of document.querySelectorAll("#colors button")) b.classList.toggle("on", b.dataset.value === mode);
}

function showControlValues() {
  $("style-weight-value").textContent = `β ${styleWeight()}`;
  $("style-scale-value").textContent = Number($("style-scale").value).toFixed(2);
}

let checkTimer = null;
function settingsChanged() {
  showControlValues();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(checkSettings, 250);
}

// The server checks settings as the CLI would and answers with the CLI's one line.
async function checkSettings() {
  const response = await fetch("/api/settings/check", {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(settings()),
  });
  studio.settingsError = response.ok ? "" : (await response.json()).detail;
  showError(studio.settingsError);
  updateButtons();
}

function showError(line) {
  $("error").textContent = line || "";
}

// ---------------------------------------------------------------- inputs

function setContent(file) {
  if (!file) return;
  if (studio.content) URL.revokeObjectURL(studio.content.url);
  studio.content = {file, url: URL.createObjectURL(file)};
  studio.inputsChanged = true;
  renderInputs();
}

function addStyles(files) {
  for (const file of files) studio.styles.push({file, url: URL.createObjectURL(file), weight: 1});
  studio.inputsChanged = true;
  renderInputs();
  settingsChanged();
}

function thumb(url, name) {
  const box = document.createElement("div");
  box.className = "thumb";
  const image = document.createElement("img");
  image.src = url;
  image.alt = name;
  image.title = name;
  box.append(image);
  return box;
}

function renderInputs() {
  const content = $("content-thumbs");
  content.replaceChildren();
  if (studio.content) content.append(thumb(studio.content.url, studio.content.file.name));
  $("content-drop").classList.toggle("filled", Boolean(studio.content));

  const styles = $("style-thumbs");
  styles.replaceChildren();
  studio.styles.forEach((style, index) => {
    const box = thumb(style.url, style.file.name);
    const remove = document.createElement("button");
    remove.className = "remove";
    remove.type = "button";
    remove.textContent = "×";
    remove.title = "remove";
    remove.addEventListener("click", (event) => {
      event.stopPropagation();
      URL.revokeObjectURL(style.url);
      studio.styles.splice(index, 1);
      studio.inputsChanged = true;
      renderInputs();
      settingsChanged();
    });
    box.append(remove);
    if (studio.styles.length > 1) {
      const weight = document.createElement("input");
      weight.type = "number";
      weight.className = "weight";
      weight.min = "0";
      weight.step = "0.1";
      weight.value = style.weight;
      weight.title = "this painting's weight in the blend (--style-blend)";
      weight.addEventListener("click", (event) => event.stopPropagation());
      weight.addEventListener("input", () => { style.weight = weight.value; settingsChanged(); });
      box.append(weight);
    }
    styles.append(box);
  });
  $("style-drop").classList.toggle("filled", studio.styles.length > 0);
  updateButtons();
}

function dropZone(zone, input, take) {
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });
  input.addEventListener("change", () => { take([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    take([...event.dataTransfer.files].filter((f) => f.type.startsWith("image/")));
  });
}

// ---------------------------------------------------------------- jobs

async function start(continueFrom) {
  const form = new FormData();
  const sendInputs = !continueFrom || studio.inputsChanged;
  if (sendInputs) {
    if (studio.content) form.append("content", studio.content.file, studio.content.file.name);
    for (const style of studio.styles) form.append("style", style.file, style.file.name);
  }
  form.append("settings", JSON.stringify(settings()));
  if (continueFrom) form.append("continue_from", continueFrom);
  $("start").disabled = true;
  const response = await fetch("/api/jobs", {method: "POST", body: form});
  const body = await response.json();
  if (!response.ok) {
    showError(body.detail);
    updateButtons();
    return;
  }
  showError("");
  studio.inputsChanged = false;
  select(body);
  refreshGallery();
}

async function stop() {
  if (!studio.job) return;
  await fetch(`/api/jobs/${studio.job.id}`, {method: "DELETE"});
}

const FINISHED = ["done", "stopped", "failed", "interrupted"];

function select(job) {
  studio.job = job;
  history.replaceState(null, "", `#${job.id}`);
  studio.frames = 0;
  studio.points = [];
  studio.progress = null;
  if (studio.socket) studio.socket.close();
  studio.socket = null;
  drawLoss();
  showJob(job);
  if (FINISHED.includes(job.state)) {
    showFinalImage(job);
    showProgress({step: job.step, total: job.total, sizes: [], steps: []});
  } else {
    watch(job.id);
  }
  highlightGallery();
}

function watch(id) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/jobs/${id}/live`);
  socket.binaryType = "blob";
  studio.socket = socket;
  socket.addEventListener("message", (event) => {
    if (studio.socket !== socket) return;
    if (event.data instanceof Blob) {
      showFrame(event.data);
      return;
    }
    const message = JSON.parse(event.data);
    if (message.type === "job") {
      const was = studio.job && studio.job.state;
      studio.job = message.job;
      showJob(message.job);
      if (was !== message.job.state) refreshGallery();
      if (FINISHED.includes(message.job.state)) {
        showFinalImage(message.job);
        if (studio.progress) showProgress({...studio.progress, step: message.job.step, seconds_left: null});
      }
    } else if (message.type === "progress") {
      studio.points.push(...message.points);
      studio.progress = message;
      showProgress(message);
      drawLoss();
    }
  });
}

function showFrame(blob) {
  const preview = $("preview");
  const old = preview.dataset.url;
  const url = URL.createObjectURL(blob);
  preview.onload = () => { if (old) URL.revokeObjectURL(old); };
  preview.src = url;
  preview.dataset.url = url;
  studio.frames += 1;
  preview.dataset.frame = String(studio.frames);
  $("placeholder").hidden = true;
  const card = studio.job && document.querySelector(`.card[data-job="${studio.job.id}"] .frame`);
  if (card) card.style.backgroundImage = `url(${url})`;
}

function showFinalImage(job) {
  if (!job.has_image) return;
  const preview = $("preview");
  preview.src = `/api/jobs/${job.id}/image?at=${job.finished || job.step}`;
  preview.dataset.url = "";
  $("placeholder").hidden = true;
}

const STATE_WORDS = {
  queued: "Waiting", running: "Painting", done: "Done", stopped: "Stopped",
  failed: "Failed", interrupted: "Interrupted",
};

function ordinal(n) {
  const suffix = n % 10 === 1 && n % 100 !== 11 ? "st" : n % 10 === 2 && n % 100 !== 12 ? "nd"
    : n % 10 === 3 && n % 100 !== 13 ? "rd" : "th";
  return `${n}${suffix}`;
}

function showJob(job) {
  const badge = $("state-badge");
  badge.hidden = false;
  badge.className = `badge ${job.state}`;
  badge.textContent = job.state === "queued" && job.position
    ? `Waiting: ${ordinal(job.position)} in line` : STATE_WORDS[job.state] || job.state;
  if (job.state === "failed" && job.error) showError(job.error);
  else if (!studio.settingsError) showError("");
  $("summary").textContent = describe(job);
  const finished = FINISHED.includes(job.state);
  const png = $("download-png");
  png.classList.toggle("disabled", !job.has_image);
  png.href = job.has_image ? `/api/jobs/${job.id}/image` : "#";
  png.download = `nst-${job.id}.png`;
  const json = $("download-json");
  json.classList.toggle("disabled", !finished);
  json.href = finished ? `/api/jobs/${job.id}/settings` : "#";
  json.download = `nst-${job.id}.json`;
  if (!studio.progress) showProgress({step: job.step, total: job.total, sizes: [], steps: []});
  updateButtons();
}

function describe(job) {
  const s = job.settings;
  const parts = [];
  if (job.names.content) parts.push(`${job.names.content} × ${(job.names.styles || []).join(", ")}`);
  if (s.size) parts.push(`${s.size} px`);
  if (s["style-weight"]) parts.push(`β ${s["style-weight"]}`);
  if (s.colors) parts.push(`${s.colors} colours`);
  if (job.parent) parts.push("continued");
  if (job.device) parts.push(job.device);
  return parts.join(" · ");
}

function showProgress(p) {
  $("step").textContent = p.total ? `${p.step} / ${p.total}` : "–";
  $("rate").textContent = p.steps_per_second ? `${p.steps_per_second.toFixed(p.steps_per_second < 10 ? 1 : 0)} steps/s` : "";
  $("eta").textContent = p.seconds_left != null && p.step < p.total ? `${clock(p.seconds_left)} left` : "";
  $("note").textContent = p.note || "";
  const scales = $("scales");
  if (!p.sizes || !p.sizes.length) {
    scales.replaceChildren();
    return;
  }
  if (scales.children.length !== p.sizes.length) {
    scales.replaceChildren(...p.sizes.map((size) => {
      const scale = document.createElement("div");
      scale.className = "scale";
      scale.innerHTML = `<span>${size} px</span><div class="bar"><div class="fill"></div></div>`;
      return scale;
    }));
  }
  let before = 0;
  p.sizes.forEach((size, index) => {
    const steps = p.steps[index];
    const share = Math.max(0, Math.min(1, (p.step - before) / steps));
    const scale = scales.children[index];
    scale.querySelector(".fill").style.width = `${(share * 100).toFixed(1)}%`;
    scale.classList.toggle("done", share >= 1);
    before += steps;
  });
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(s / 3600);
  return hours ? `${hours}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${Math.floor(s / 60)}:${two(s % 60)}`;
}

function drawLoss() {
  const canvas = $("loss");
  const context = canvas.getContext("2d");
  const {width, height} = canvas;
  context.clearRect(0, 0, width, height);
  const points = studio.points.filter(([, loss]) => loss != null && loss > 0);
  if (points.length < 2) return;
  const logs = points.map(([, loss]) => Math.log10(loss));
  const low = Math.min(...logs), high = Math.max(...logs);
  const last = points[points.length - 1][0], first = points[0][0];
  const x = (step) => 4 + (width - 8) * (step - first) / Math.max(1, last - first);
  const y = (value) => height - 6 - (height - 12) * (value - low) / Math.max(1e-9, high - low);
  context.strokeStyle = "#e9a23b";
  context.lineWidth = 1.5;
  context.beginPath();
  points.forEach(([step], index) => {
    if (index === 0) context.moveTo(x(step), y(logs[index]));
    else context.lineTo(x(step), y(logs[index]));
  });
  context.stroke();
  context.fillStyle = "#9a9ca3";
  context.font = "10px system-ui";
  context.fillText(`loss ${points[points.length - 1][1].toPrecision(3)}`, 6, 12);
}

function updateButtons() {
  const job = studio.job;
  const running = job && !FINISHED.includes(job.state);
  $("start").disabled = !studio.content || !studio.styles.length || Boolean(studio.settingsError);
  $("stop").disabled = !running;
  $("continue").disabled = !job || !job.has_image || Boolean(studio.settingsError);
}

// ---------------------------------------------------------------- gallery

async function refreshGallery() {
  const response = await fetch("/api/jobs");
  if (!response.ok) return;
  const list = await response.json();
  const gallery = $("gallery");
  gallery.replaceChildren(...list.map((job) => {
    const card = document.createElement("button");
    card.type = "button";
    card.className = "card";
    card.dataset.job = job.id;
    card.title = `${describe(job)}\n${JSON.stringify(job.settings)}${job.error ? "\n" + job.error : ""}`;
    const frame = document.createElement("div");
    frame.className = "frame";
    if (job.has_image) frame.style.backgroundImage = `url(/api/jobs/${job.id}/thumbnail?at=${job.finished || job.step})`;
    const caption = document.createElement("div");
    caption.className = "caption";
    caption.innerHTML = `<span class="state-${job.state}"></span><span></span>`;
    caption.children[0].textContent = STATE_WORDS[job.state] || job.state;
    caption.children[1].textContent = job.settings.size ? `${job.settings.size} px` : "";
    card.append(frame, caption);
    card.addEventListener("click", () => { select(job); applySettings(job.settings); settingsChanged(); });
    return card;
  }));
  highlightGallery();
}

function highlightGallery() {
  for (const card of document.querySelectorAll(".card")) {
    card.classList.toggle("selected", Boolean(studio.job) && card.dataset.job === studio.job.id);
  }
}

// ---------------------------------------------------------------- setup

function buildMoreOptions(options) {
  const box = $("more-options");
  for (const option of options.options) {
    if (MAIN_OPTIONS.includes(option.name)) continue;
    const field = document.createElement("div");
    field.className = "field";
    const label = document.createElement("label");
    label.textContent = `--${option.name}`;
    label.title = option.help;
    let input;
    if (option.switch) {
      field.classList.add("switch");
      input = document.createElement("input");
      input.type = "checkbox";
    } else if (option.choices.length) {
      input = document.createElement("select");
      input.append(new Option(`default (${option.default})`, ""));
      for (const choice of option.choices) input.append(new Option(choice, choice));
    } else {
      input = document.createElement("input");
      input.type = "text";
      const studioDefault = options.studio_defaults[option.name];
      input.placeholder = studioDefault !== undefined ? `${studioDefault} (studio)` : option.default ?? "";
    }
    input.dataset.option = option.name;
    input.title = option.help;
    input.id = `option-${option.name}`;
    label.htmlFor = input.id;
    input.addEventListener("input", settingsChanged);
    input.addEventListener("change", settingsChanged);
    if (option.switch) field.append(input, label);
    else field.append(label, input);
    box.append(field);
  }
}

async function setup() {
  const response = await fetch("/api/options");
  const options = await response.json();
  studio.options = options;
  const byName = Object.fromEntries(options.options.map((o) => [o.name, o]));
  studio.defaultStyleWeight = byName["style-weight"].default;
  $("size").value = byName.size.default;
  $("iterations").value = byName.iterations.default;
  $("style-scale").value = byName["style-scale"].default;
  setColors(byName.colors.default);
  for (const name of options.backends) $("backend").append(new Option(name, name));
  if (!options.backends.includes(options.backend)) $("backend").append(new Option(options.backend, options.backend));
  $("backend").value = options.backend;
  $("device").append(new Option("auto", "auto"));
  for (const name of options.devices) $("device").append(new Option(name, name));
  buildMoreOptions(options);
  showControlValues();

  dropZone($("content-drop"), $("content-file"), (files) => setContent(files[0]));
  dropZone($("style-drop"), $("style-file"), addStyles);
  for (const id of ["balance", "size", "iterations", "style-scale", "backend", "device"]) {
    $(id).addEventListener("input", settingsChanged);
  }
  for (const button of document.querySelectorAll("#colors button")) {
    button.addEventListener("click", () => { setColors(button.dataset.value); settingsChanged(); });
  }
  $("start").addEventListener("click", () => start(null));
  $("stop").addEventListener("click", stop);
  $("continue").addEventListener("click", () => start(studio.job.id));

  if (options.problem) showError(options.problem);
  await refreshGallery();
  await selectFromAddress();
  window.addEventListener("hashchange", selectFromAddress);
  updateButtons();
}

// The address names the job on show (#ID): a reload or a shared link shows it again.
async function selectFromAddress() {
  const wanted = location.hash.slice(1);
  if (!wanted || (studio.job && studio.job.id === wanted)) return;
  const job = await fetch(`/api/jobs/${wanted}`);
  if (job.ok) select(await job.json());
}

setup();
