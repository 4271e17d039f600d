// Small line charts on a canvas, redrawn at most once per animation frame.

export class LineChart {
  /** `series`: [{ name, color }]; `yRange`: [min, max] or null to fit the data. */
  constructor(canvas, { series, yRange = null, xLabel = "" }) {
    this.canvas = canvas;
    this.series = series.map((s) => ({ ...s, points: [] }));
    this.yRange = yRange;
    this.xLabel = xLabel;
    this.pending = false;
  }

  add(seriesIndex, x, y) {
    if (!Number.isFinite(y)) return;
    this.series[seriesIndex].points.push([x, y]);
    this.schedule();
  }

  clear() {
    for (const s of this.series) s.points = [];
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const { canvas } = this;
    const ctx = canvas.getContext("2d");
    const scale = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = width * scale;
    canvas.height = height * scale;
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const all = this.series.flatMap((s) => s.points);
    const pad = { left: 42, right: 10, top: 10, bottom: 22 };
    const xs = all.map(([x]) => x);
    const ys = all.map(([, y]) => y);
    const xMin = Math.min(0, ...xs);
    const xMax = Math.max(1, ...xs);
    const [yMin, yMax] = this.yRange || [Math.min(0, ...ys), Math.max(1e-6, ...ys) * 1.05];
    const px = (x) => pad.left + ((x - xMin) / (xMax - xMin || 1)) * (width - pad.left - pad.right);
    const py = (y) => height - pad.bottom - ((y - yMin) / (yMax - yMin || 1)) * (height - pad.top - pad.bottom);

    ctx.strokeStyle = "#ccc";
    ctx.fillStyle = "#555";
    ctx.font = "11px system-ui, sans-serif";
    ctx.beginPath();
    ctx.moveTo(pad.left, pad.top);
    ctx.lineTo(pad.left, height - pad.bottom);
    ctx.lineTo(width - pad.right, height - pad.bottom);
    ctx.stroke();
    for (const y of [yMin, (yMin + yMax) / 2, yMax]) ctx.fillText(y.toFixed(2), 2, py(y) + 4);
    ctx.fillText(this.xLabel, width - pad.right - ctx.measureText(this.xLabel).width, height - 6);

    let legendX = pad.left + 8;
    for (const s of this.series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
      ctx.stroke();
      if (s.points.length === 1) ctx.fillRect(px(s.points[0][0]) - 2, py(s.points[0][1]) - 2, 4, 4);
      ctx.fillStyle = s.color;
      ctx.fillText(s.name, legendX, pad.top + 10);
      legendX += ctx.measureText(s.name).width + 16;
    }
  }
}
