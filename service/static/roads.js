// The road-mask panel (POST /segment) and the class-model panel (GET /class-model).

import { getJSON, postJSON, timed } from "./api.js";
import { decodeArray, drawMask, drawPicture, drawRGB, el } from "./render.js";

const $ = (id) => document.getElementById(id);
const TARGETS = [
  ["road", "road"],
  ["not_road", "not road"],
];

function metres(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} km` : `${value.toFixed(0)} m`;
}

function lengthText(pixels, length_m) {
  return length_m === undefined || length_m === null ? `${pixels.toFixed(0)} px` : metres(length_m);
}

function gsd() {
  const value = Number.parseFloat($("gsd").value);
  return Number.isFinite(value) && value > 0 ? value : null;
}

// Segment `file` and show the mask over the picture already drawn on `base`, with its pieces.
export async function runRoads(file, base, current) {
  $("roads-summary").textContent = "Computing…";
  $("roads-pieces").replaceChildren();
  $("roads-time").textContent = "";
  const params = { format: "json" };
  if (gsd() !== null) params.gsd_m = gsd();
  try {
    const { result, ms } = await timed(() => postJSON("/segment", file, params));
    if (!current()) return;
    const roads = $("roads-base");
    drawPicture(roads, base, base.width, base.height);
    drawMask($("roads-mask"), decodeArray(result.mask));
    $("roads-time").textContent = `${Math.round(ms)} ms`;
    showRoads(result);
  } catch (error) {
    if (current()) $("roads-summary").textContent = String(error.message || error);
    throw error;
  }
}

function showRoads(result) {
  if (!result.road) {
    $("roads-summary").textContent = "The model calls this tile road-free: no mask.";
    return;
  }
  const count = result.pieces.length;
  const total = lengthText(result.length_px, result.length_m);
  $("roads-summary").textContent = count
    ? `${count} road piece${count === 1 ? "" : "s"}, ${total} in all (${result.road_pixels} pixels).`
    : "The model calls this tile road, but no piece passed the rule.";
  $("roads-pieces").replaceChildren(
    ...result.pieces.map((piece) => {
      const [x0, y0, x1, y1] = piece.box;
      return el("li", {}, `${lengthText(piece.length_px, piece.length_m)}, box (${x0}, ${y0})–(${x1}, ${y1})`);
    }),
  );
}

// The class-model images of the default model, one per decision (made once by the server, then cached).
export async function loadClassModels() {
  const panel = $("class-models");
  panel.replaceChildren(...TARGETS.map(([target, title]) => classCard(target, title)));
  const { result, ms } = await timed(() =>
    Promise.allSettled(TARGETS.map(([target]) => getJSON(`/class-model?format=json&target=${target}`))),
  );
  $("class-time").textContent = `${Math.round(ms)} ms`;
  result.forEach((outcome, i) => {
    const card = panel.querySelector(`[data-target="${TARGETS[i][0]}"]`);
    card.classList.remove("loading");
    if (outcome.status !== "fulfilled") {
      card.querySelector(".placeholder").textContent = String(outcome.reason?.message || outcome.reason);
      return;
    }
    const answer = outcome.value;
    const canvas = el("canvas", { className: "map", title: `the image the model scores highest for ${TARGETS[i][1]}` });
    drawRGB(canvas, decodeArray(answer.image));
    card.querySelector(".placeholder").replaceWith(canvas);
    const [label, probability] = Object.entries(answer.probabilities)[0];
    card.querySelector(".muted").textContent = `p(${label}) = ${probability.toFixed(4)}, ${answer.steps} steps`;
  });
}

function classCard(target, title) {
  const card = el(
    "figure",
    { className: "class-model loading" },
    el("div", { className: "placeholder" }, "computing…"),
    el("figcaption", {}, el("b", {}, title), el("span", { className: "muted" }, "")),
  );
  card.dataset.target = target;
  return card;
}
