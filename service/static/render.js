// Arrays from the service's JSON answers, drawn on canvases: grayscale maps and jet heat maps.

// {"shape", "dtype": "float32", "data": base64 of little-endian bytes} -> {height, width, values}.
export function decodeArray({ shape, dtype, data }) {
  if (dtype !== "float32") throw new Error(`unexpected array dtype ${dtype}`);
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const values = new Float32Array(bytes.length / 4);
  for (let i = 0; i < values.length; i += 1) values[i] = view.getFloat32(4 * i, true);
  const [height, width] = shape.slice(-2);
  return { height, width, values };
}

// The jet colour map, as the service draws its overlays: blue -> cyan -> yellow -> red.
export function jet(value) {
  const v = Math.min(1, Math.max(0, value));
  const ramp = (centre) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - centre))));
  return [ramp(3), ramp(2), ramp(1)];
}

const gray = (value) => {
  const level = Math.round(255 * Math.min(1, Math.max(0, value)));
  return [level, level, level];
};

// Draw a decoded [0, 1] map on `canvas` at its own resolution; CSS scales it up.
export function drawMap(canvas, map, colours = "jet") {
  const colour = colours === "jet" ? jet : gray;
  canvas.width = map.width;
  canvas.height = map.height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(map.width, map.height);
  map.values.forEach((value, i) => {
    pixels.data.set([...colour(value), 255], 4 * i);
  });
  context.putImageData(pixels, 0, 0);
}

// Draw a picture (an <img>) on `canvas` at the model's input size, as the service resizes it.
export function drawPicture(canvas, picture, width, height) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(picture, 0, 0, width, height);
}

// Small element helper: el("p", {className: "x"}, "text", child).
export function el(tag, properties = {}, ...children) {
  const element = Object.assign(document.createElement(tag), properties);
  element.append(...children);
  return element;
}
