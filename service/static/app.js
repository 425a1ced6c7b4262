// The RoadLens page: choose a tile, then show the prediction, VisualBackProp, the other methods and the feature maps.
// Every panel comes from the public API (the same calls the Python client makes); nothing is computed here
// except drawing maps on canvases.

import { ApiError, getJSON, postBlob, postJSON, setApiKey, timed } from "./api.js";
import { decodeArray, drawMap, drawPicture, el } from "./render.js";
import { loadClassModels, runRoads } from "./roads.js";

const $ = (id) => document.getElementById(id);
const state = { model: null, methods: [], generation: 0, vbp: {}, urls: [], file: null };
let markReady;
const serverReady = new Promise((resolve) => {
  markReady = resolve;
});

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function describeError(error) {
  return error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error);
}

function needKey(error) {
  if (error instanceof ApiError && error.status === 401) {
    $("key-form").hidden = false;
    return true;
  }
  return false;
}

// --- the server: readiness, the default model, the explanation methods --------------------------------------

async function loadServer() {
  try {
    const ready = await getJSON("/readyz");
    const { models } = await getJSON("/models");
    state.model = models.find((m) => m.default) || models[0];
    const names = ready.models.map((m) => `${m.name}:${m.version}`).join(", ");
    $("model-info").textContent = `${names} on ${ready.device}`;
  } catch (error) {
    if (needKey(error)) return;
    $("model-info").textContent = "models loading…";
    setTimeout(loadServer, 1000);
    return;
  }
  state.methods = await loadMethods();
  markReady();
  loadClassModels();
}

async function loadMethods() {
  try {
    const listing = await getJSON("/explain");
    return (listing.methods || []).filter((m) => m.name !== "visualbackprop" && m.applicable !== false);
  } catch (error) {
    return []; // a server without /explain: the panel says so
  }
}

// --- choosing an image ------------------------------------------------------------------------------------------

async function loadSamples() {
  const { samples } = await (await fetch("/static/samples/samples.json")).json();
  for (const sample of samples) {
    const url = `/static/samples/${sample.file}`;
    const button = el(
      "button",
      { type: "button", className: "sample", title: `${sample.title} (${sample.road ? "road" : "no road"})` },
      el("img", { src: url, alt: sample.title, width: 64, height: 64 }),
      el("span", {}, sample.road ? "road" : "no road"),
    );
    button.dataset.file = sample.file;
    button.addEventListener("click", async () => {
      const blob = await (await fetch(url)).blob();
      analyse(new File([blob], sample.file, { type: blob.type }));
    });
    $("samples").append(button);
  }
}

function bindInputs() {
  const zone = $("drop-zone");
  $("file-input").addEventListener("change", (event) => {
    if (event.target.files.length) analyse(event.target.files[0]);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) analyse(event.dataTransfer.files[0]);
  });
  $("opacity").addEventListener("input", showOpacity);
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", showMask);
  $("gsd").addEventListener("change", () => {
    const generation = state.generation;
    if (state.file) runRoads(state.file, $("vbp-base"), () => generation === state.generation).catch(() => {});
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value.trim());
    $("key-form").hidden = true;
    loadServer();
  });
}

// --- one analysis -------------------------------------------------------------------------------------------------

function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}

async function showInput(file) {
  for (const url of state.urls.splice(0)) URL.revokeObjectURL(url);
  const preview = $("preview");
  preview.src = objectUrl(file);
  preview.hidden = false;
  $("drop-hint").hidden = true;
  $("file-name").textContent = file.name;
  const [height, width] = inputSize();
  try {
    await preview.decode();
    drawPicture($("vbp-base"), preview, width, height);
  } catch {
    drawPicture($("vbp-base"), new Image(), width, height); // a format the browser cannot show: mask only
  }
}

function inputSize() {
  const input = state.model?.manifest?.input || { height: 96, width: 96 };
  return [input.height, input.width];
}

function blockNames() {
  return (state.model?.manifest?.blocks || []).map((block) => block.name);
}

async function analyse(file) {
  const generation = ++state.generation;
  const current = () => generation === state.generation;
  document.body.dataset.state = "loading";
  setStatus("Waiting for the server…");
  await serverReady;
  if (!current()) return;
  setStatus("Computing…");
  await showInput(file);
  resetPanels();
  state.file = file;
  const vbp = runVisualBackProp(file, current);
  const roads = runRoads(file, $("vbp-base"), current);
  const others = [roads, ...runMethods(file, current), ...runFeatures(file, current)];
  const [core] = await Promise.allSettled([vbp, ...others]);
  if (!current()) return;
  document.body.dataset.state = core.status === "fulfilled" ? "done" : "error";
  if (core.status === "fulfilled") setStatus("");
}

function resetPanels() {
  $("probability").textContent = "…";
  $("decision").textContent = "Computing…";
  $("decision").className = "decision";
  $("levels").replaceChildren();
  $("vbp-time").textContent = "";
  $("methods").replaceChildren(
    ...(state.methods.length
      ? state.methods.map((m) => methodCard(m))
      : [el("p", { className: "muted" }, "This server offers no other explanation methods (no GET /explain).")]),
  );
  $("features").replaceChildren(...blockNames().map((name) => featureCard(name)));
}

// --- VisualBackProp and the prediction ------------------------------------------------------------------------

async function runVisualBackProp(file, current) {
  try {
    const { result, ms } = await timed(() =>
      Promise.all([
        postJSON("/visualbackprop", file, { format: "json", layers: true }),
        postJSON("/visualbackprop", file, { format: "json", layers: true, normalize_overlap: true }),
      ]),
    );
    if (!current()) return;
    const [faithful, normalised] = result;
    state.vbp = { faithful, normalised };
    $("vbp-time").textContent = `2 requests, ${Math.round(ms)} ms`;
    showPrediction(faithful);
    showMask();
  } catch (error) {
    if (!current()) return;
    needKey(error);
    $("probability").textContent = "–";
    $("decision").textContent = "No answer";
    setStatus(describeError(error), true);
    throw error;
  }
}

function showPrediction(answer) {
  const [label, probability] = Object.entries(answer.probabilities)[0];
  const threshold = state.model?.manifest?.thresholds?.[label] ?? 0.5;
  const positive = answer.labels.includes(label);
  $("probability").textContent = `${(100 * probability).toFixed(1)} %`;
  $("probability-bar").style.width = `${100 * probability}%`;
  $("threshold-mark").style.left = `${100 * threshold}%`;
  $("decision").textContent = positive ? label : `no ${label}`;
  $("decision").className = `decision ${positive ? "positive" : "negative"}`;
  $("threshold-text").textContent =
    `Threshold ${threshold.toFixed(3)} (from the model's manifest), model ${answer.model.name}:${answer.model.version}.`;
}

function showMask() {
  const mode = document.querySelector("input[name=mode]:checked").value;
  const answer = state.vbp[mode];
  if (!answer) return;
  drawMap($("vbp-overlay"), decodeArray(answer.mask), "jet");
  showOpacity();
  $("levels").replaceChildren(...(answer.layers || []).map(levelCard));
}

function showOpacity() {
  const value = Number($("opacity").value);
  $("vbp-overlay").style.opacity = String(value / 100);
  $("opacity-value").textContent = `${value} %`;
}

function levelCard(level) {
  const averaged = el("canvas", { className: "map", title: `${level.name}: averaged activations` });
  const mask = el("canvas", { className: "map", title: `${level.name}: intermediate mask` });
  drawMap(averaged, decodeArray(level.averaged), "gray");
  drawMap(mask, decodeArray(level.mask), "gray");
  const [height, width] = level.mask.shape;
  return el("figure", { className: "level" }, averaged, mask, el("figcaption", {}, `${level.name} · ${height}×${width}`));
}

// --- the other methods and the feature maps ------------------------------------------------------------------

function methodCard(method) {
  const card = el(
    "figure",
    { className: "method loading", title: method.summary || "" },
    el("div", { className: "placeholder" }, "computing…"),
    el("figcaption", {}, el("b", {}, method.name.replaceAll("_", " ")), el("span", { className: "muted" }, "")),
  );
  card.dataset.method = method.name;
  return card;
}

function runMethods(file, current) {
  return state.methods.map(async (method) => {
    const card = $("methods").querySelector(`[data-method="${method.name}"]`);
    try {
      const params = { format: "png", overlay: true };
      const { result, ms } = await timed(() => postBlob(`/explain/${method.name}`, file, params));
      if (!current()) return;
      card.querySelector(".placeholder").replaceWith(el("img", { src: objectUrl(result), alt: method.name }));
      card.querySelector(".muted").textContent = `${Math.round(ms)} ms`;
    } catch (error) {
      if (current()) card.querySelector(".placeholder").textContent = describeError(error);
    } finally {
      if (current()) card.classList.remove("loading");
    }
  });
}

function featureCard(name) {
  const card = el("figure", { className: "feature loading" }, el("div", { className: "placeholder" }, "computing…"));
  card.dataset.layer = name;
  return card;
}

function runFeatures(file, current) {
  return blockNames().map(async (name) => {
    const card = $("features").querySelector(`[data-layer="${name}"]`);
    try {
      const blob = await postBlob("/features", file, { format: "png", layers: name });
      if (!current()) return;
      card.querySelector(".placeholder").replaceWith(el("img", { src: objectUrl(blob), alt: `${name} feature maps` }));
    } catch (error) {
      if (current()) card.querySelector(".placeholder").textContent = describeError(error);
    } finally {
      if (current()) card.classList.remove("loading");
    }
  });
}

bindInputs();
showOpacity();
loadSamples();
loadServer();
