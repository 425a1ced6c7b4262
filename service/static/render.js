// Arrays from the service's JSON answers, drawn on canvases: grayscale maps and jet heat maps.

// {"shape", "dtype": "float32" or "uint8", "data": base64 of little-endian bytes} -> {height, width, values}
// (an H x W x 3 image keeps its channels interleaved in `values`).
export function decodeArray({ shape, dtype, data }) {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  let values;
  if (dtype === "uint8") {
    values = bytes;
  } else if (dtype === "float32") {
    const view = new DataView(bytes.buffer);
    values = new Float32Array(bytes.length / 4);
    for (let i = 0; i < values.length; i += 1) values[i] = view.getFloat32(4 * i, true);
  } else {
    throw new Error(`unexpected array dtype ${dtype}`);
  }
  const [height, width] = shape.length === 3 && shape[2] === 3 ? shape.slice(0, 2) : shape.slice(-2);
  return { height, width, values };
}

// Draw a decoded H x W x 3 image in [0, 1] on `canvas` at its own resolution.
export function drawRGB(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(image.width, image.height);
  for (let i = 0; i < image.width * image.height; i += 1) {
    for (let c = 0; c < 3; c += 1) pixels.data[4 * i + c] = Math.round(255 * image.values[3 * i + c]);
    pixels.data[4 * i + 3] = 255;
  }
  context.putImageData(pixels, 0, 0);
}

// Draw a decoded 0 / 1 mask on `canvas`: road pixels in `colour`, the rest transparent.
export function drawMask(canvas, mask, colour = [255, 48, 48]) {
  canvas.width = mask.width;
  canvas.height = mask.height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(mask.width, mask.height);
  mask.values.forEach((value, i) => {
    if (value) pixels.data.set([...colour, 255], 4 * i);
  });
  context.putImageData(pixels, 0, 0);
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
