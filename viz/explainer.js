/* tinygraph explainer page: plain JavaScript, no framework, no build step, no network.
 *
 * The data lives in <script id="explainer-data"> (written by viz/explainer_page.py):
 *   columns[i]   one tensor of the forward pass: name, type, kind, source (the column its layer
 *                read), block, params (conv weights etc.), maps (8-bit copy for drawing: per map
 *                lo/hi, value = lo + q/255*(hi-lo)), exact (float32 values, base64, or null).
 *   blocks       residual / composite modules: their columns, source column, skip flag.
 *   logits, classes, predicted, gradcam.
 * The page draws an overview (every column's maps left to right, lines for what feeds what) and,
 * on click, a detail view whose numbers are computed here from the exact values.
 */
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("explainer-data").textContent);

  // ------------------------------------------------------------------ decoding
  function bytesFromBase64(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function floatsFromBase64(text) {
    return new Float32Array(bytesFromBase64(text).buffer);
  }

  const COLS = DATA.columns.map(function (c, index) {
    const shape = c.maps.shape;
    return Object.assign({}, c, {
      index: index,
      q: bytesFromBase64(c.maps.q),
      values: c.exact ? floatsFromBase64(c.exact) : null,
      isVector: shape.length !== 3,
      C: shape.length === 3 ? shape[0] : 1,
      H: shape.length === 3 ? shape[1] : shape.reduce((a, b) => a * b, 1),
      W: shape.length === 3 ? shape[2] : 1,
    });
  });
  const LOGITS = floatsFromBase64(DATA.logits_b64);

  /* The value of column `col` at (channel c, row y, column x) in full-resolution coordinates:
   * {v, exact}. Exact when the float32 copy exists; otherwise from the 8-bit copy (if drawn). */
  function valueAt(col, c, y, x) {
    if (col.values) return { v: col.values[(c * col.H + y) * col.W + x], exact: true };
    const m = col.maps, s = m.step;
    if (c >= m.maps || y % s || x % s) return null;
    const q = col.q[(c * m.h + y / s) * m.w + x / s];
    return { v: m.lo[c] + (q / 255) * (m.hi[c] - m.lo[c]), exact: false };
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
    const d = digits === undefined ? 3 : digits;
    if (v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3)) return v.toExponential(d - 1);
    return v.toFixed(d);
  }
  function fmtValue(r) { return r ? (r.exact ? "" : "≈") + fmt(r.v, 4) : "not stored"; }

  // ------------------------------------------------------------------ colours
  // Sequential (viridis) for non-negative data, diverging (blue-white-red, centred on 0) for signed.
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
  const RDBU = [[33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
    [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43]];
  function makeLut(anchors) {
    const lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const t = (i / 255) * (anchors.length - 1), k = Math.min(Math.floor(t), anchors.length - 2), f = t - k;
      for (let ch = 0; ch < 3; ch++) lut[3 * i + ch] = Math.round(anchors[k][ch] * (1 - f) + anchors[k + 1][ch] * f);
    }
    return lut;
  }
  const SEQUENTIAL = makeLut(VIRIDIS), DIVERGING = makeLut(RDBU);

  let scaleMode = "unit"; // "unit": each map its own range; "layer": each column's; "global": one for all
  const GLOBAL = (function () {
    let lo = 0, hi = 0;
    COLS.forEach(function (c) { if (c.kind !== "input") { lo = Math.min(lo, c.maps.range[0]); hi = Math.max(hi, c.maps.range[1]); } });
    return [lo, hi];
  })();

  /* The colour scale of map m of a column under the current mode: signed -> [-a, a], else [0, hi]. */
  function scaleFor(col, m) {
    const r = scaleMode === "unit" ? [col.maps.lo[m], col.maps.hi[m]] : scaleMode === "layer" ? col.maps.range : GLOBAL;
    if (r[0] < 0) { const a = Math.max(-r[0], Math.abs(r[1])); return { signed: true, lo: -a, hi: a }; }
    return { signed: false, lo: 0, hi: r[1] };
  }
  function colourIndex(v, s) {
    if (!(s.hi > s.lo)) return s.signed ? 128 : 0;
    const t = (v - s.lo) / (s.hi - s.lo);
    return Math.max(0, Math.min(255, Math.round(t * 255)));
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) for (const k in attrs) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "cls") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (ch) { if (ch) node.appendChild(ch); });
    return node;
  }

  /* Paint a w x h canvas from a function giving each pixel's [r, g, b]. */
  function paint(canvas, w, h, rgbAt) {
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const rgb = rgbAt(y, x), p = 4 * (y * w + x);
      img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2]; img.data[p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function lutColour(v, s) {
    const lut = s.signed ? DIVERGING : SEQUENTIAL, i = 3 * colourIndex(v, s);
    return [lut[i], lut[i + 1], lut[i + 2]];
  }

  /* Vectors (F,) are drawn as columns of at most VROWS cells, wrapping to the right. */
  const VROWS = 64;
  function vectorGrid(col) { const rows = Math.min(col.H, VROWS); return { rows: rows, cols: Math.ceil(col.H / rows) }; }

  /* Draw map m of `col` (its 8-bit copy, as subsampled for the overview) with the current scale. */
  function drawMap(canvas, col, m) {
    const mp = col.maps, s = scaleFor(col, m), lo = mp.lo[m], span = mp.hi[m] - mp.lo[m], off = m * mp.h * mp.w;
    const deq = function (i) { return lo + (col.q[off + i] / 255) * span; };
    if (col.isVector) {
      const g = vectorGrid(col);
      paint(canvas, g.cols, g.rows, function (y, x) {
        const i = x * g.rows + y;
        return i < col.H ? lutColour(deq(i), s) : [255, 255, 255];
      });
    } else {
      paint(canvas, mp.w, mp.h, function (y, x) { return lutColour(deq(y * mp.w + x), s); });
    }
  }
  /* Draw channel c of `col` at full resolution from its exact values (the detail views). */
  function drawFull(canvas, col, c) {
    if (!col.values && c >= col.maps.maps) { paint(canvas, 1, 1, function () { return [220, 220, 220]; }); return false; }
    if (!col.values) { drawMap(canvas, col, c); return true; }
    const s = scaleFor(col, Math.min(c, col.maps.maps - 1));
    paint(canvas, col.W, col.H, function (y, x) { return lutColour(col.values[(c * col.H + y) * col.W + x], s); });
    return true;
  }
  /* The input in its own colours: RGB (or grey) stretched to the image's min..max. */
  function drawInputImage(canvas, col) {
    const lo = col.maps.range[0], span = (col.maps.range[1] - lo) || 1;
    const at = function (c, y, x) { const r = valueAt(col, c, y, x); return Math.round(255 * (r.v - lo) / span); };
    paint(canvas, col.W, col.H, function (y, x) {
      if (col.C === 3) return [at(0, y, x), at(1, y, x), at(2, y, x)];
      const g = at(0, y, x); return [g, g, g];
    });
  }
  /* Input channel c tinted with its own colour (red, green, blue) for 3-channel images. */
  function drawInputChannel(canvas, col, c) {
    const lo = col.maps.range[0], span = (col.maps.range[1] - lo) || 1, tint = col.C === 3 ? [[1, 0, 0], [0, 1, 0], [0, 0, 1]][c] : [1, 1, 1];
    paint(canvas, col.W, col.H, function (y, x) {
      const t = (valueAt(col, c, y, x).v - lo) / span;
      return [Math.round(255 * t * tint[0]), Math.round(255 * t * tint[1]), Math.round(255 * t * tint[2])];
    });
  }

  // ------------------------------------------------------------------ hover
  const tip = el("div", { id: "tip" });
  function showTip(ev, text) { tip.textContent = text; tip.style.display = "block"; tip.style.left = ev.clientX + 14 + "px"; tip.style.top = ev.clientY + 12 + "px"; }
  function hideTip() { tip.style.display = "none"; }
  /* Hovering a canvas shows the value under the mouse. `full`: a vector drawn as one column (not wrapped). */
  function hoverValues(canvas, col, c, full) {
    canvas.addEventListener("mousemove", function (ev) {
      const r = canvas.getBoundingClientRect();
      const px = Math.floor(((ev.clientX - r.left) / r.width) * canvas.width), py = Math.floor(((ev.clientY - r.top) / r.height) * canvas.height);
      let text;
      if (col.isVector) {
        const i = full ? py : px * vectorGrid(col).rows + py;
        if (i >= col.H) { hideTip(); return; }
        text = col.name + " [" + i + "] = " + fmtValue(valueAt(col, 0, i, 0));
      } else {
        const step = canvas.width === col.W ? 1 : col.maps.step, y = py * step, x = px * step; // full or subsampled
        if (col.kind === "input" && col.C === 3) {
          text = "input (" + y + ", " + x + ")  R " + fmt(valueAt(col, 0, y, x).v) + "  G " + fmt(valueAt(col, 1, y, x).v) + "  B " + fmt(valueAt(col, 2, y, x).v);
        } else {
          text = col.name + "  map " + c + "  (" + y + ", " + x + ") = " + fmtValue(valueAt(col, c, y, x));
        }
      }
      showTip(ev, text);
    });
    canvas.addEventListener("mouseleave", hideTip);
  }

  // ------------------------------------------------------------------ overview
  const SIDE = 48; // largest side of an overview map, in CSS pixels
  function cssSize(canvas, w, h, side) {
    const cell = Math.max(1, Math.floor(side / Math.max(w, h)));
    canvas.style.width = w * cell + "px"; canvas.style.height = h * cell + "px";
  }
  const mapCanvases = []; // [column index][map index] -> canvas, for lines and redraws

  function layerNote(col) {
    const notes = [];
    if (!col.isVector && col.maps.maps < col.C) notes.push("showing " + col.maps.maps + " of " + col.C + " maps");
    if (col.maps.step > 1) notes.push("drawn at 1/" + col.maps.step + " resolution");
    if (col.isVector && col.H > VROWS) notes.push("drawn in columns of " + VROWS + ", top to bottom");
    if (!col.values) notes.push("values 8-bit (~)");
    return notes.join("; ");
  }
  function shapeText(col) { return "(" + col.maps.shape.join(", ") + ")"; }

  function buildColumn(col) {
    const head = el("div", { cls: "head" }, [
      el("div", { cls: "name", text: col.name }),
      el("div", { cls: "type", text: col.kind === "other" ? col.type + " (no detail view)" : col.type }),
      el("div", { cls: "shape", text: shapeText(col) }),
      el("div", { cls: "range" }),
    ]);
    const maps = el("div", { cls: "maps" });
    const box = el("div", { cls: "column " + col.kind, "data-column": col.index, "data-kind": col.kind }, [head]);
    const note = layerNote(col);
    if (note) box.appendChild(el("div", { cls: "note", text: note }));
    box.appendChild(maps);
    mapCanvases[col.index] = [];
    if (col.kind === "input") {
      const wrap = el("div", { cls: "mapwrap" });
      const img = el("canvas", { cls: "map input-image", title: "the input image; click for details" });
      drawInputImage(img, col); cssSize(img, col.W, col.H, 96);
      wrap.appendChild(img);
      if (DATA.gradcam) {
        const cam = el("canvas", { cls: "camoverlay" });
        drawGradCam(cam); cam.style.width = img.style.width; cam.style.height = img.style.height; cam.style.display = "none";
        wrap.appendChild(cam);
      }
      hoverValues(img, col, 0, true);
      img.addEventListener("click", function () { openDetail(col.index, 0); });
      maps.appendChild(wrap);
    }
    const count = col.isVector ? 1 : col.maps.maps;
    for (let m = 0; m < count; m++) {
      const cv = el("canvas", { cls: "map", "data-column": col.index, "data-map": m, title: col.name + " map " + m });
      if (col.kind === "input") { drawInputChannel(cv, col, m); cssSize(cv, col.W, col.H, SIDE); }
      else if (col.isVector) {
        const g = vectorGrid(col);
        drawMap(cv, col, 0);
        cv.style.width = (g.cols > 1 ? Math.max(2, Math.floor(96 / g.cols)) : 16) * g.cols + "px";
        cv.style.height = Math.max(2, Math.floor(256 / g.rows)) * g.rows + "px";
      }
      else { drawMap(cv, col, m); cssSize(cv, col.maps.w, col.maps.h, SIDE); }
      hoverValues(cv, col, m, col.kind === "input");
      cv.addEventListener("click", function () { openDetail(col.index, m); });
      cv.addEventListener("mouseenter", function () { highlightLinks(col.index, m, true); });
      cv.addEventListener("mouseleave", function () { highlightLinks(col.index, m, false); });
      maps.appendChild(cv);
      mapCanvases[col.index].push(cv);
    }
    return box;
  }

  function softmaxProbs() {
    let max = -Infinity;
    for (let i = 0; i < LOGITS.length; i++) max = Math.max(max, LOGITS[i]);
    const ex = Array.from(LOGITS, function (z) { return Math.exp(z - max); });
    const total = ex.reduce(function (a, b) { return a + b; }, 0);
    return { max: max, ex: ex, total: total, p: ex.map(function (e) { return e / total; }) };
  }

  function buildSoftmax() {
    const sm = softmaxProbs();
    const rows = DATA.classes.map(function (name, k) {
      return el("div", { cls: "row" + (k === DATA.predicted ? " predicted" : ""), "data-class": k }, [
        el("span", { cls: "label", text: name, title: name }),
        (function () { const b = el("span", { cls: "bar" }); b.style.width = Math.max(1, Math.round(100 * sm.p[k])) + "px"; return b; })(),
        el("span", { text: (100 * sm.p[k]).toFixed(1) + "%" }),
      ]);
    });
    const box = el("div", { cls: "column softmax", "data-column": "softmax", "data-kind": "softmax", title: "click: how softmax turns logits into probabilities" }, [
      el("div", { cls: "head" }, [
        el("div", { cls: "name", text: "softmax" }),
        el("div", { cls: "type", text: "probabilities" }),
        el("div", { cls: "shape", text: "(" + LOGITS.length + ",)" }),
      ]),
      el("div", { cls: "maps" }, rows),
    ]);
    box.addEventListener("click", function () { openSoftmax(); });
    return box;
  }

  // Lines: which maps feed which. One-to-one layers link map i to map i; the others link every
  // input map to every output map (or, when there are too many pairs, to the column as a whole).
  const ONE_TO_ONE = { relu: 1, leaky_relu: 1, batchnorm: 1, dropout: 1, maxpool: 1, avgpool: 1, adaptive_avgpool: 1 };
  const linksByTarget = {}; // "column:map" -> [path]
  const SVGNS = "http://www.w3.org/2000/svg"; // an XML namespace name, not a request
  function svg(tag, attrs) { const n = document.createElementNS(SVGNS, tag); for (const k in attrs) n.setAttribute(k, attrs[k]); return n; }

  function sourcesOf(col) {
    if (col.source !== null && col.source !== undefined) return [col.source];
    if (col.kind === "block_out") { // a block's result: from its columns that nothing else in the block read
      const b = DATA.blocks[col.block], read = {};
      b.columns.forEach(function (i) { if (COLS[i].source !== null) read[COLS[i].source] = 1; });
      return b.columns.filter(function (i) { return i !== col.index && !read[i]; });
    }
    return col.index > 0 ? [col.index - 1] : [];
  }

  function drawLinks(stage, layer) {
    while (layer.firstChild) layer.removeChild(layer.firstChild);
    const base = stage.getBoundingClientRect();
    layer.setAttribute("width", stage.scrollWidth); layer.setAttribute("height", stage.scrollHeight);
    const rectOf = function (node) { const r = node.getBoundingClientRect(); return { x: r.left - base.left, y: r.top - base.top, w: r.width, h: r.height }; };
    const columnBoxes = Array.from(stage.querySelectorAll(".column")).map(rectOf);
    DATA.blocks.forEach(function (b) {
      const xs = b.columns.map(function (i) { return columnBoxes[i]; });
      const x0 = Math.min.apply(null, xs.map(function (r) { return r.x; })) - 10, x1 = Math.max.apply(null, xs.map(function (r) { return r.x + r.w; })) + 10;
      const y1 = Math.max.apply(null, xs.map(function (r) { return r.y + r.h; })) + 8;
      layer.appendChild(svg("rect", { "class": "block", x: x0, y: 30, width: x1 - x0, height: y1 - 30, rx: 6 }));
      const label = svg("text", { x: x0 + 4, y: y1 - 4 }); label.textContent = b.name + " (" + b.type + ")"; layer.appendChild(label);
      const out = b.columns[b.columns.length - 1];
      if (b.skip && b.source !== null && COLS[out].kind === "block_out") {
        const a = columnBoxes[b.source], z = columnBoxes[out];
        const ax = a.x + a.w / 2, zx = z.x + z.w / 2; // an arc over the block, from its input to its output
        const p = svg("path", { "class": "skip", d: "M" + ax + "," + (a.y + 4) + " C" + ax + ",8 " + zx + ",8 " + zx + "," + (z.y + 4) });
        layer.appendChild(p);
        const t = svg("text", { x: (a.x + z.x + z.w) / 2 - 40, y: 16 });
        const projected = b.columns.some(function (i) { return /\.shortcut/.test(COLS[i].name); });
        t.textContent = projected ? "skip: + shortcut(x)" : "skip: + x"; layer.appendChild(t);
      }
    });
    const curve = function (a, b) {
      const mid = (a[0] + b[0]) / 2;
      return "M" + a[0] + "," + a[1] + " C" + mid + "," + a[1] + " " + mid + "," + b[1] + " " + b[0] + "," + b[1];
    };
    const right = function (r) { return [r.x + r.w, r.y + r.h / 2]; }, left = function (r) { return [r.x, r.y + r.h / 2]; };
    COLS.forEach(function (col) {
      const dst = mapCanvases[col.index];
      sourcesOf(col).forEach(function (s) {
        const src = mapCanvases[s];
        if (!src || !dst || !src.length || !dst.length) return;
        const pairs = [];
        const groups = col.kind === "conv" ? col.params.groups : 1;
        if (ONE_TO_ONE[col.kind] || (col.kind === "block_out" && src.length === dst.length)) {
          for (let m = 0; m < Math.min(src.length, dst.length); m++) pairs.push([m, m]);
        } else if (src.length * dst.length <= 400) {
          for (let i = 0; i < src.length; i++) for (let o = 0; o < dst.length; o++) {
            if (groups > 1 && Math.floor(i / (COLS[s].C / groups)) !== Math.floor(o / (col.C / groups))) continue;
            pairs.push([i, o]);
          }
        } else {
          for (let i = 0; i < src.length; i++) pairs.push([i, -1]);
        }
        pairs.forEach(function (pr) {
          const a = right(rectOf(src[pr[0]]));
          const b = pr[1] >= 0 ? left(rectOf(dst[pr[1]])) : left(columnBoxes[col.index]);
          const path = svg("path", { d: curve(a, b) });
          layer.appendChild(path);
          const key = col.index + ":" + (pr[1] >= 0 ? pr[1] : "all");
          (linksByTarget[key] = linksByTarget[key] || []).push(path);
        });
      });
    });
    const logits = mapCanvases[COLS.length - 1], softmax = stage.querySelector(".column.softmax .maps");
    if (logits && logits.length && softmax) layer.appendChild(svg("path", { d: curve(right(rectOf(logits[0])), left(rectOf(softmax))) }));
  }
  function highlightLinks(ci, m, on) {
    (linksByTarget[ci + ":" + m] || []).concat(linksByTarget[ci + ":all"] || []).forEach(function (p) { p.classList.toggle("hot", on); });
  }

  function redrawAll() {
    COLS.forEach(function (col) {
      if (col.kind === "input") return;
      mapCanvases[col.index].forEach(function (cv, m) { drawMap(cv, col, m); });
      const range = document.querySelector('.column[data-column="' + col.index + '"] .range');
      if (range) range.textContent = scaleMode === "layer" ? "scale " + scaleText(scaleFor(col, 0)) : "";
    });
    drawLegend();
  }
  function scaleText(s) { return s.signed ? "±" + fmt(s.hi) : "0–" + fmt(s.hi); } // m of the legend, signed or not

  function ramp(lut, left, middle, rightText) {
    const cv = el("canvas");
    paint(cv, 128, 1, function (y, x) { const i = 3 * Math.round((x / 127) * 255); return [lut[i], lut[i + 1], lut[i + 2]]; });
    const ticks = el("div", { cls: "ticks" }, [el("span", { text: left }), el("span", { text: middle }), el("span", { text: rightText })]);
    return el("span", { cls: "ramp" }, [cv, ticks]);
  }
  const legend = el("div", { cls: "legend", id: "legend" });
  /* Fresh legend elements for the current scale mode (for the header, and again in each detail view). */
  function legendParts() {
    const parts = [];
    if (scaleMode === "global") {
      const s = scaleFor(COLS[COLS.length - 1], 0);
      parts.push(el("span", { text: "one scale for every layer: " }));
      parts.push(s.signed ? ramp(DIVERGING, "−" + fmt(s.hi), "0", "+" + fmt(s.hi)) : ramp(SEQUENTIAL, "0", "", fmt(s.hi)));
    } else {
      parts.push(el("span", { text: scaleMode === "unit" ? "each map scaled to its own largest value m:" : "each layer scaled to its own largest value m (under its name):" }));
      parts.push(ramp(SEQUENTIAL, "0", "non-negative maps", "m"));
      parts.push(ramp(DIVERGING, "−m", "0 (signed maps)", "+m"));
    }
    parts.push(el("span", { cls: "hint", text: "input: its own colours. Hover a pixel for its value; click a map for how it is computed." }));
    if (DATA.gradcam) parts.push(ramp(SEQUENTIAL, "0", "Grad-CAM", "max"));
    return parts;
  }
  function drawLegend() {
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    legendParts().forEach(function (p) { legend.appendChild(p); });
  }

  function drawGradCam(canvas) {
    const g = DATA.gradcam.maps, q = bytesFromBase64(g.q), hi = g.hi[0] > 0 ? g.hi[0] : 1;
    paint(canvas, g.w, g.h, function (y, x) { const v = g.lo[0] + (q[y * g.w + x] / 255) * (g.hi[0] - g.lo[0]); return lutColour(v, { signed: false, lo: 0, hi: hi }); });
  }

  // ------------------------------------------------------------------ detail views
  const detail = el("div", { id: "detail", role: "dialog" });
  let stopTimer = function () {};
  function closeDetail() { stopTimer(); detail.classList.remove("open"); detail.removeAttribute("data-column"); }
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") closeDetail(); });

  function detailFrame(title, explain) {
    stopTimer();
    while (detail.firstChild) detail.removeChild(detail.firstChild);
    const close = el("button", { cls: "close", text: "✕ close" });
    close.addEventListener("click", closeDetail);
    detail.appendChild(close);
    detail.appendChild(el("h2", { text: title }));
    if (explain) detail.appendChild(el("p", { cls: "explain", text: explain }));
    detail.appendChild(el("div", { cls: "legend" }, legendParts()));
    detail.classList.add("open");
    detail.scrollTop = 0;
  }

  /* A full-resolution map (channel c of col) with a highlight box; `onPick(y, x)` on click. */
  function bigMap(col, c, side, caption, onPick) {
    const cv = el("canvas", { cls: "map", "data-column": col.index, "data-map": c });
    let stored = true;
    if (col.kind === "input") drawInputChannel(cv, col, c); else stored = drawFull(cv, col, c);
    if (!stored) caption += " (not stored in this page: the layer was subsampled)";
    const w = col.isVector ? 1 : col.W, h = col.H;
    const cell = Math.max(1, Math.floor(side / Math.max(w, h)));
    cv.style.width = w * cell + "px"; cv.style.height = h * cell + "px";
    hoverValues(cv, col, c, true);
    const box = el("div", { cls: "box" }); box.style.display = "none";
    const wrap = el("div", { cls: "mapwrap" }, [cv, box]);
    if (onPick) cv.addEventListener("click", function (ev) {
      const r = cv.getBoundingClientRect();
      onPick(Math.floor(((ev.clientY - r.top) / r.height) * h), Math.floor(((ev.clientX - r.left) / r.width) * w));
    });
    /* Outline rows y0..y1, columns x0..x1 (inclusive; clipped to the map, +1 for the border). */
    const mark = function (y0, x0, y1, x1) {
      y0 = Math.max(0, y0); x0 = Math.max(0, x0); y1 = Math.min(h - 1, y1); x1 = Math.min(w - 1, x1);
      if (y1 < y0 || x1 < x0) { box.style.display = "none"; return; }
      box.style.display = "block";
      box.style.left = 1 + x0 * cell + "px"; box.style.top = 1 + y0 * cell + "px";
      box.style.width = (x1 - x0 + 1) * cell + "px"; box.style.height = (y1 - y0 + 1) * cell + "px";
    };
    return { node: el("div", { cls: "big" }, [wrap, el("div", { cls: "caption", text: caption })]), mark: mark, canvas: cv };
  }

  /* Play / step controls walking over an OH x OW output; render(y, x) draws one position. */
  function stepper(OH, OW, render) {
    let y = 0, x = 0, timer = null;
    const label = el("span", { cls: "sum" });
    const go = function (ny, nx) { y = ny; x = nx; label.textContent = "output pixel (" + y + ", " + x + ")"; render(y, x); };
    const next = function (d) { let k = (y * OW + x + d + OH * OW) % (OH * OW); go(Math.floor(k / OW), k % OW); };
    const play = el("button", { text: "▶ play", cls: "play" });
    const stop = function () { if (timer) clearInterval(timer); timer = null; play.textContent = "▶ play"; };
    play.addEventListener("click", function () {
      if (timer) { stop(); return; }
      play.textContent = "❚❚ pause"; timer = setInterval(function () { next(1); }, 450);
    });
    const back = el("button", { text: "◀" }), fwd = el("button", { text: "▶|" });
    back.addEventListener("click", function () { stop(); next(-1); });
    fwd.addEventListener("click", function () { stop(); next(1); });
    stopTimer = stop;
    return { node: el("div", { cls: "stepper" }, [play, back, fwd, label, el("span", { cls: "hint", text: "or click a pixel of the output map" })]),
      pick: function (ny, nx) { stop(); go(Math.max(0, Math.min(OH - 1, ny)), Math.max(0, Math.min(OW - 1, nx))); },
      start: function () { go(0, 0); play.click(); } };
  }

  function numTable(rows, cols, cellAt) {
    const t = el("table", { cls: "nums" });
    for (let r = 0; r < rows; r++) {
      const tr = el("tr");
      for (let c = 0; c < cols; c++) { const d = cellAt(r, c); tr.appendChild(el("td", { cls: d.cls || "", text: d.text })); }
      t.appendChild(tr);
    }
    return t;
  }
  /* Compare the value computed on the page with the one tinygraph computed (float32 rounding apart).
   * `exactInputs`: the page computed from exact values; otherwise only "about the same" can be said. */
  function verdict(computed, stored, label, exactInputs) {
    if (!stored) return el("span", { cls: "hint", text: label + ": not stored in this page" });
    if (!stored.exact || !exactInputs) {
      return el("span", { cls: "hint", text: label + " = " + fmtValue(stored) + "  (8-bit values here: compare by eye)" });
    }
    const good = Math.abs(computed - stored.v) <= 1e-4 * (1 + Math.abs(stored.v));
    return el("span", { cls: good ? "ok" : "bad", text: label + " = " + fmtValue(stored) + (good ? "  ✓ same" : "  ✗ differs") });
  }

  /* The output-size formula with this layer's numbers, e.g. "H_out = ⌊(8 + 2 − 1·(3 − 1) − 1) / 1⌋ + 1 = 8". */
  function convArithmetic(size, outSize, k, s, padTotal, d, axis) {
    return axis + "_out = ⌊(" + size + " + " + padTotal + " − " + d + "·(" + k + " − 1) − 1) / " + s + "⌋ + 1 = " + outSize;
  }

  const MAX_CHANNEL_ROWS = 6; // input channels drawn in full in the convolution view; the rest as sums
  function openConv(col, o) {
    const p = col.params, src = COLS[col.source];
    const W = floatsFromBase64(p.weight), ws = p.weight_shape, cpg = ws[1], kh = ws[2], kw = ws[3];
    const bias = p.bias ? floatsFromBase64(p.bias)[o] : 0;
    const group = Math.floor(o / (col.C / p.groups)), first = group * cpg;
    detailFrame(col.name + " (Conv2d): output map " + o + " of " + col.C,
      "Each output pixel is a dot product: the " + kh + "×" + kw + " kernel slice for every input channel times the input window under it, " +
      "summed over the window and over the " + cpg + " input channel" + (cpg > 1 ? "s" : "") + ", plus the bias. stride " + p.stride.join("×") +
      ", padding " + p.padding.join("/") + " (top/bottom/left/right; padded cells are 0), dilation " + p.dilation.join("×") + (p.groups > 1 ? ", groups " + p.groups : "") + "." +
      (src.values ? "" : " The input values are 8-bit approximations here (the page's exact-value budget was spent)."));
    detail.appendChild(el("p", { cls: "sum", text: convArithmetic(src.H, col.H, kh, p.stride[0], p.padding[0] + p.padding[1], p.dilation[0], "H") +
      "    " + convArithmetic(src.W, col.W, kw, p.stride[1], p.padding[2] + p.padding[3], p.dilation[1], "W") }));
    const out = bigMap(col, o, 160, "output map " + o, function (y, x) { st.pick(y, x); });
    const rows = [], nShown = Math.min(cpg, MAX_CHANNEL_ROWS);
    for (let k = 0; k < nShown; k++) {
      const c = first + k;
      const inMap = bigMap(src, c, 120, "input map " + c + " (" + src.name + ")", null);
      const holder = { window: el("span"), kernel: el("span"), products: el("span"), sum: el("span", { cls: "sum" }) };
      const row = el("div", { cls: "row conv-channel", "data-channel": c }, [inMap.node,
        el("div", {}, [el("div", { cls: "caption", text: "input window" }), holder.window]), el("span", { cls: "op", text: "⊙" }),
        el("div", {}, [el("div", { cls: "caption", text: "kernel [" + o + ", " + k + "]" }), holder.kernel]), el("span", { cls: "op", text: "=" }),
        el("div", {}, [el("div", { cls: "caption", text: "products" }), holder.products]), el("span", { cls: "op", text: "Σ" }), holder.sum]);
      rows.push({ c: c, k: k, map: inMap, h: holder, node: row });
    }
    const sums = el("div", { cls: "sum" }), result = el("div", { cls: "sum", id: "conv-result" }), check = el("div");
    const st = stepper(col.H, col.W, function (i, j) {
      const top = i * p.stride[0] - p.padding[0], leftEdge = j * p.stride[1] - p.padding[2];
      const channelSums = [];
      for (let k = 0; k < cpg; k++) {
        const c = first + k, win = [], prod = [];
        let s = 0;
        for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
          const y = top + a * p.dilation[0], x = leftEdge + b * p.dilation[1];
          const inside = y >= 0 && y < src.H && x >= 0 && x < src.W;
          const v = inside ? valueAt(src, c, y, x).v : 0, wv = W[((o * cpg + k) * kh + a) * kw + b];
          win.push({ v: v, inside: inside }); prod.push(v * wv); s += v * wv;
        }
        channelSums.push(s);
        const row = rows[k];
        if (!row) continue;
        const fill = function (holder, table) { holder.textContent = ""; holder.appendChild(table); };
        fill(row.h.window, numTable(kh, kw, function (a, b) { const q = win[a * kw + b]; return { text: fmt(q.v), cls: q.inside ? "" : "pad" }; }));
        fill(row.h.kernel, numTable(kh, kw, function (a, b) { return { text: fmt(W[((o * cpg + k) * kh + a) * kw + b]) }; }));
        fill(row.h.products, numTable(kh, kw, function (a, b) { return { text: fmt(prod[a * kw + b]) }; }));
        row.h.sum.textContent = fmt(s, 4);
        row.h.sum.setAttribute("data-value", String(s));
        row.map.mark(top, leftEdge, top + (kh - 1) * p.dilation[0], leftEdge + (kw - 1) * p.dilation[1]);
      }
      const total = channelSums.reduce(function (a, b) { return a + b; }, 0), value = total + bias;
      const shown = channelSums.slice(0, 16).map(function (s) { return fmt(s, 4); }).join(" + ") + (cpg > 16 ? " + … (" + (cpg - 16) + " more)" : "");
      sums.textContent = "sum over " + cpg + " input channel" + (cpg > 1 ? "s" : "") + ": " + shown + " = " + fmt(total, 4) + (cpg > nShown ? "   (channels " + (first + nShown) + "… not drawn above)" : "");
      result.textContent = "+ bias " + fmt(bias, 4) + "  =  " + fmt(value, 5);
      result.setAttribute("data-value", String(value));
      result.setAttribute("data-pixel", o + "," + i + "," + j);
      check.textContent = ""; check.appendChild(verdict(value, valueAt(col, o, i, j), "tinygraph's conv2d output at (" + o + ", " + i + ", " + j + ")", !!src.values));
      out.mark(i, j, i, j);
    });
    detail.appendChild(st.node);
    detail.appendChild(el("div", { cls: "row" }, [out.node, el("div", {}, [sums, result, check])]));
    rows.forEach(function (r) { detail.appendChild(r.node); });
    if (cpg > nShown) detail.appendChild(el("p", { cls: "hint", text: "Input channels " + (first + nShown) + " to " + (first + cpg - 1) + " are not drawn; their sums are in the total above." }));
    st.start();
  }

  /* Pooling window of output pixel (i, j): rows/columns it covers in the input (before clipping). */
  function poolWindow(col, src, i, j) {
    if (col.kind === "adaptive_avgpool") {
      return {
        y0: Math.floor((i * src.H) / col.H), y1: Math.ceil(((i + 1) * src.H) / col.H) - 1,
        x0: Math.floor((j * src.W) / col.W), x1: Math.ceil(((j + 1) * src.W) / col.W) - 1, dy: 1, dx: 1,
      };
    }
    const p = col.params, y0 = i * p.stride[0] - p.padding[0], x0 = j * p.stride[1] - p.padding[2];
    return { y0: y0, x0: x0, y1: y0 + (p.kernel[0] - 1) * p.dilation[0], x1: x0 + (p.kernel[1] - 1) * p.dilation[1], dy: p.dilation[0], dx: p.dilation[1] };
  }

  function openPool(col, c) {
    const src = COLS[col.source], isMax = col.kind === "maxpool";
    detailFrame(col.name + " (" + col.type + "): map " + c,
      isMax ? "Max pooling keeps the largest value in each window (outlined in the table)." :
        "Average pooling replaces each window by its mean" + (col.kind === "adaptive_avgpool" ? "; the windows are chosen so that the output is " + col.H + "×" + col.W + "." : "."));
    const inMap = bigMap(src, c, 200, "input: " + src.name + " map " + c, null);
    const out = bigMap(col, c, 200, "output map " + c, function (y, x) { st.pick(y, x); });
    const table = el("span"), result = el("div", { cls: "sum", id: "pool-result" }), check = el("div");
    const st = stepper(col.H, col.W, function (i, j) {
      const w = poolWindow(col, src, i, j), cells = [];
      for (let y = w.y0; y <= w.y1; y += w.dy) { const row = []; for (let x = w.x0; x <= w.x1; x += w.dx) {
        const inside = y >= 0 && y < src.H && x >= 0 && x < src.W;
        row.push({ v: inside ? valueAt(src, c, y, x).v : null, inside: inside });
      } cells.push(row); }
      let best = -Infinity, bi = -1, bj = -1, sum = 0, count = 0, padded = 0;
      cells.forEach(function (row, a) { row.forEach(function (q, b) {
        if (!q.inside) { padded++; return; }
        count++; sum += q.v; if (q.v > best) { best = q.v; bi = a; bj = b; }
      }); });
      const includePad = col.kind === "avgpool" && col.params.count_include_pad;
      const value = isMax ? best : sum / (includePad ? count + padded : count);
      table.textContent = "";
      table.appendChild(numTable(cells.length, cells[0].length, function (a, b) {
        const q = cells[a][b];
        return { text: q.inside ? fmt(q.v) : "pad", cls: !q.inside ? "pad" : isMax && a === bi && b === bj ? "chosen" : "" };
      }));
      result.textContent = (isMax ? "max = " : "mean = " + fmt(sum, 4) + " / " + (includePad ? count + padded : count) + " = ") + fmt(value, 5);
      result.setAttribute("data-value", String(value));
      check.textContent = ""; check.appendChild(verdict(value, valueAt(col, c, i, j), "tinygraph's output", !!src.values));
      inMap.mark(w.y0, w.x0, w.y1, w.x1); out.mark(i, j, i, j);
    });
    detail.appendChild(st.node);
    detail.appendChild(el("div", { cls: "row" }, [inMap.node, el("div", {}, [el("div", { cls: "caption", text: "window" }), table, result, check]), out.node]));
    st.start();
  }

  /* Elementwise layers: before and after, with the formula applied to the chosen pixel. */
  function openElementwise(col, c) {
    const src = COLS[col.source], p = col.params;
    let explain, formula;
    if (col.kind === "relu") {
      explain = "ReLU keeps positive values and sets negative ones to 0: y = max(0, x).";
      formula = function (x) { return Math.max(0, x); };
    } else if (col.kind === "leaky_relu") {
      explain = "Leaky ReLU: y = x for x > 0, else " + p.negative_slope + "·x.";
      formula = function (x) { return x > 0 ? x : p.negative_slope * x; };
    } else if (col.kind === "dropout") {
      explain = "Dropout (p = " + p.p + ") is off when predicting: y = x. " +
        "(While training it zeroes each value with probability p and scales the rest by 1/(1−p).)";
      formula = function (x) { return x; };
    } else if (col.kind === "batchnorm") {
      const mean = p.mean ? p.mean[c] : null, v = p.var ? p.var[c] : null;
      explain = mean === null ? "Batch norm without running statistics normalises with this batch's mean and variance, then scales by γ and shifts by β." :
        "Batch norm (eval mode) for channel " + c + ": y = (x − μ) / √(σ² + ε) · γ + β with μ = " + fmt(mean, 4) +
        ", σ² = " + fmt(v, 4) + ", ε = " + p.eps + ", γ = " + fmt(p.gamma[c], 4) + ", β = " + fmt(p.beta[c], 4) + ".";
      formula = mean === null ? null : function (x) { return ((x - mean) / Math.sqrt(v + p.eps)) * p.gamma[c] + p.beta[c]; };
    } else { explain = ""; formula = null; }
    detailFrame(col.name + " (" + col.type + "): map " + c, explain);
    let negatives = 0;
    if (src.values) for (let k = 0; k < src.H * src.W; k++) if (src.values[c * src.H * src.W + k] < 0) negatives++;
    if ((col.kind === "relu" || col.kind === "leaky_relu") && src.values) {
      const fate = col.kind === "relu" ? " and become 0." : " and are scaled.";
      detail.appendChild(el("p", { cls: "explain", text: negatives + " of " + src.H * src.W + " input values are negative" + fate }));
    }
    const before = bigMap(src, c, 220, "before: " + src.name + " map " + c, function (y, x) { st.pick(y, x); });
    const after = bigMap(col, c, 220, "after: " + col.name + " map " + c, function (y, x) { st.pick(y, x); });
    const calc = el("div", { cls: "sum", id: "elementwise-result" });
    const st = stepper(col.H, col.W, function (i, j) {
      const x = valueAt(src, c, i, j), y = valueAt(col, c, i, j);
      calc.textContent = "x = " + fmtValue(x) + "  →  y = " + (formula && x ? fmt(formula(x.v), 5) : fmtValue(y)) + "   (stored: " + fmtValue(y) + ")";
      before.mark(i, j, i, j); after.mark(i, j, i, j);
    });
    detail.appendChild(st.node);
    detail.appendChild(el("div", { cls: "row" }, [before.node, el("span", { cls: "op", text: "→" }), after.node]));
    detail.appendChild(calc);
    st.pick(0, 0);
  }

  function vectorBars(col) {
    const box = el("div", { cls: "vbars" }), n = Math.min(col.H, 64);
    let a = 0;
    for (let i = 0; i < n; i++) a = Math.max(a, Math.abs(valueAt(col, 0, i, 0) ? valueAt(col, 0, i, 0).v : 0));
    for (let i = 0; i < n; i++) {
      const r = valueAt(col, 0, i, 0), v = r ? r.v : 0, bar = el("span", { cls: "vbar" });
      bar.style.width = Math.round((200 * Math.abs(v)) / (a || 1)) + "px"; bar.style.background = v < 0 ? "#2166ac" : "#b2182b";
      box.appendChild(el("div", { cls: "vrow" }, [el("span", { cls: "vlabel", text: (col.index === COLS.length - 1 ? DATA.classes[i] + " " : "") + "[" + i + "] " + fmtValue(r) }), bar]));
    }
    if (col.H > n) box.appendChild(el("div", { cls: "hint", text: "first " + n + " of " + col.H + " values" }));
    return box;
  }

  const EXPLAIN = {
    flatten: "Flatten lays the maps out as one long vector, map after map, row after row; nothing is computed.",
    linear: "A fully connected layer: every output is a weighted sum of all inputs plus a bias, y = W x + b.",
    block_out: "The block's result, computed in its forward(): for a residual block, relu(main path + shortcut).",
    forward: "A tensor computed in a module's forward() code rather than by a layer (for example x.relu()).",
    other: "tinygraph's explainer has no detail view for this layer type; here is its output.",
  };
  function openGeneric(col, c) {
    detailFrame(col.name + " (" + col.type + ")" + (col.isVector ? "" : ": map " + c), (EXPLAIN[col.kind] || "") + (col.kind === "linear" ? " Here " + col.params.in_features + " → " + col.params.out_features + "." : ""));
    const nodes = [];
    if (col.source !== null && col.source !== undefined) {
      const src = COLS[col.source];
      nodes.push(src.isVector ? vectorBars(src) : bigMap(src, Math.min(c, src.C - 1), 220, "input: " + src.name, null).node, el("span", { cls: "op", text: "→" }));
    }
    nodes.push(col.isVector ? vectorBars(col) : bigMap(col, c, 220, col.name + " map " + c, null).node);
    detail.appendChild(el("div", { cls: "row" }, nodes));
    if (col.index === COLS.length - 1) {
      const b = el("button", { text: "→ softmax: how these logits become probabilities" });
      b.addEventListener("click", openSoftmax); detail.appendChild(b);
    }
  }

  function openInput(col) {
    detailFrame("input image " + shapeText(col), "The image as the network sees it. Hover a pixel for its channel values." + (DATA.gradcam ? " The Grad-CAM overlay (layer " + DATA.gradcam.layer + ") marks where the evidence for the predicted class lies." : ""));
    const nodes = [];
    for (let c = 0; c < col.C; c++) nodes.push(bigMap(col, c, 160, "channel " + c, null).node);
    const img = el("canvas", { cls: "map" }); drawInputImage(img, col); cssSize(img, col.W, col.H, 240); hoverValues(img, col, 0, true);
    const wrap = el("div", { cls: "mapwrap" }, [img]);
    if (DATA.gradcam) {
      const cam = el("canvas", { cls: "camoverlay" });
      drawGradCam(cam);
      cam.style.width = img.style.width; cam.style.height = img.style.height;
      wrap.appendChild(cam);
    }
    detail.appendChild(el("div", { cls: "row" }, [wrap].concat(nodes)));
  }

  function openSoftmax() {
    const sm = softmaxProbs();
    detailFrame("softmax: logits → exp → normalise",
      "Softmax turns the last layer's scores (logits z) into probabilities: p_k = exp(z_k − max z) / Σ_j exp(z_j − max z). " +
      "Subtracting the largest logit first changes nothing mathematically and keeps exp from overflowing.");
    const t = el("table", { cls: "calc", id: "softmax-table" });
    t.appendChild(el("tr", {}, ["class", "logit z", "z − max", "exp(z − max)", "p = exp / Σ"].map(function (h) { return el("th", { text: h }); })));
    DATA.classes.forEach(function (name, k) {
      t.appendChild(el("tr", { cls: k === DATA.predicted ? "predicted" : "", "data-class": k, "data-prob": String(sm.p[k]) }, [
        el("td", { text: name }), el("td", { text: fmt(LOGITS[k], 4) }), el("td", { text: fmt(LOGITS[k] - sm.max, 4) }),
        el("td", { text: fmt(sm.ex[k], 4) }), el("td", { text: fmt(sm.p[k], 4) })]));
    });
    t.appendChild(el("tr", {}, [el("td", { text: "Σ" }), el("td"), el("td"), el("td", { text: fmt(sm.total, 4) }), el("td", { text: fmt(1, 4) })]));
    detail.appendChild(t);
    detail.appendChild(el("p", { cls: "explain", text: "Prediction: " + DATA.classes[DATA.predicted] + " with probability " + (100 * sm.p[DATA.predicted]).toFixed(2) + "%." }));
  }

  function openDetail(ci, m) {
    const col = COLS[ci];
    if (col.kind === "input") openInput(col);
    else if (col.kind === "conv" && col.source !== null) openConv(col, m);
    else if ((col.kind === "maxpool" || col.kind === "avgpool" || col.kind === "adaptive_avgpool") && col.source !== null && !col.isVector) openPool(col, m);
    else if ({ relu: 1, leaky_relu: 1, dropout: 1, batchnorm: 1 }[col.kind] && col.source !== null && !col.isVector && !COLS[col.source].isVector) openElementwise(col, m);
    else openGeneric(col, m);
    detail.setAttribute("data-column", ci); detail.setAttribute("data-kind", col.kind);
  }

  // ------------------------------------------------------------------ page
  function build() {
    const sm = softmaxProbs();
    const modes = el("fieldset", {}, [el("legend", { text: "colour scale" })]);
    [["unit", "per map"], ["layer", "per layer"], ["global", "global"]].forEach(function (pair) {
      const input = el("input", { type: "radio", name: "scale", value: pair[0], id: "scale-" + pair[0] });
      if (pair[0] === scaleMode) input.checked = true;
      input.addEventListener("change", function () { scaleMode = pair[0]; redrawAll(); });
      modes.appendChild(el("label", {}, [input, document.createTextNode(" " + pair[1] + " ")]));
    });
    const controls = el("div", { cls: "controls" }, [modes]);
    if (DATA.gradcam) {
      const box = el("input", { type: "checkbox", id: "gradcam-toggle" });
      box.addEventListener("change", function () {
        document.querySelectorAll("#overview .camoverlay").forEach(function (c) { c.style.display = box.checked ? "block" : "none"; });
      });
      controls.appendChild(el("label", {}, [box, document.createTextNode(" Grad-CAM overlay (" + DATA.gradcam.layer + ", predicted class)")]));
    }
    controls.appendChild(legend);
    const header = el("header", {}, [
      el("h1", { text: DATA.title }),
      el("div", { cls: "prediction" }, [
        document.createTextNode("predicted: "),
        el("b", { text: DATA.classes[DATA.predicted] }),
        document.createTextNode(" (" + (100 * sm.p[DATA.predicted]).toFixed(1) + "%)"),
      ]),
      controls,
    ]);
    const stage = el("div", { id: "stage" });
    const links = svg("svg", { id: "links" });
    stage.appendChild(links);
    COLS.forEach(function (col) { stage.appendChild(buildColumn(col)); });
    stage.appendChild(buildSoftmax());
    document.body.appendChild(header);
    document.body.appendChild(el("div", { id: "overview" }, [stage]));
    document.body.appendChild(detail);
    document.body.appendChild(tip);
    redrawAll();
    drawLinks(stage, links);
    window.addEventListener("resize", function () { drawLinks(stage, links); });
  }

  build();
  // For tests and curious readers: the decoded data and the entry points.
  window.tinygraphExplainer = { data: DATA, columns: COLS, openDetail: openDetail, openSoftmax: openSoftmax, softmax: softmaxProbs };
  window.tinygraphExplainer.readyMs = performance.now(); // time from navigation start to a drawn page
  document.body.setAttribute("data-ready", "1");
})();
