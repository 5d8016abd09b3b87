// mltrail's charts: metric histories drawn with the vendored uPlot.
//
// Histories come from the JSON API's metrics/get-history-bulk-interval, which downsamples on
// the server to at most MAX_POINTS per run keeping each bucket's minimum and maximum (a spike is
// never lost). A drag-select zooms; on the step axis the zoomed range is fetched again in
// detail (start_step/end_step). Options: x as step, wall time or relative time; log scale;
// smoothing (an exponential moving average). Everything user-provided is set as text.
"use strict";

window.mltrailCharts = (function () {
  const MAX_POINTS = 1000;
  const LIVE_MS = 5000;
  const COLORS = ["#2457c5", "#d1495b", "#1c7c4a", "#e08e0b", "#7b3fa0", "#00798c",
    "#a15c00", "#5f6b7a", "#c2185b", "#3d9970"];

  const color = (i) => COLORS[i % COLORS.length];

  async function fetchHistory(key, runIds, range) {
    const query = [["metric_key", key], ["max_results", String(MAX_POINTS)]];
    runIds.forEach((id) => query.push(["run_ids", id]));
    if (range) {
      query.push(["start_step", String(Math.floor(range[0]))], ["end_step", String(Math.ceil(range[1]))]);
    }
    const data = await mltrail.api("GET", "metrics/get-history-bulk-interval", query);
    const byRun = new Map(runIds.map((id) => [id, []]));
    for (const point of data.metrics || []) {
      const value = Number(point.value);
      byRun.get(point.run_id)?.push({ step: Number(point.step), time: Number(point.timestamp), value });
    }
    return byRun;
  }

  function smooth(values, weight) {
    if (!weight) return values;
    let last = null;
    return values.map((v) => {
      if (v === null) return null;
      last = last === null ? v : last * weight + v * (1 - weight);
      return last;
    });
  }

  // One run's points as a sorted [xs, ys] table for the chosen x axis (one y per x).
  function table(points, options) {
    const first = points.length ? Math.min(...points.map((p) => p.time)) : 0;
    const xOf = {
      step: (p) => p.step,
      wall: (p) => p.time / 1000,
      relative: (p) => (p.time - first) / 1000,
    }[options.x];
    const sorted = points.map((p) => [xOf(p), p.value]).sort((a, b) => a[0] - b[0]);
    const xs = [];
    const ys = [];
    for (const [x, v] of sorted) {
      const y = Number.isFinite(v) && (!options.log || v > 0) ? v : null;
      if (xs.length && xs[xs.length - 1] === x) { ys[ys.length - 1] = y; continue; }
      xs.push(x);
      ys.push(y);
    }
    return [xs, smooth(ys, options.smoothing)];
  }

  function xLabel(mode) {
    return { step: "step", wall: "wall time", relative: "seconds since start" }[mode];
  }

  // Draw (or redraw) a chart of `series` ([{label, points}]) into `target`.
  function draw(target, series, options, onZoom) {
    if (target._plot) { target._plot.destroy(); target._plot = null; }
    target.replaceChildren();
    delete target.dataset.drawn;
    const tables = series.map((s) => table(s.points, options));
    if (!tables.some((t) => t[0].length)) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No points in this range.";
      target.append(empty);
      return null;
    }
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const width = Math.max(240, target.clientWidth || 480);
    const plot = new uPlot({
      width,
      height: 240,
      scales: {
        x: { time: options.x === "wall" },
        y: options.log ? { distr: 3 } : {},
      },
      axes: [{ label: xLabel(options.x) }, {}],
      series: [
        { label: xLabel(options.x) },
        ...series.map((s, i) => ({
          label: s.label, stroke: color(i), width: 1.5, spanGaps: true,
          points: { show: tables[i][0].length < 2 },
        })),
      ],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        // Says on the element how many points are on screen (tests and bench/ui.py wait on it).
        draw: [(u) => { target.dataset.drawn = String(u.data[0].length); }],
        setSelect: [(u) => {
          if (u.select.width < 2) return;
          const lo = u.posToVal(u.select.left, "x");
          const hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          onZoom && onZoom([lo, hi], u);
        }],
      },
    }, data, target);
    target._plot = plot;
    return plot;
  }

  function readOptions() {
    const x = document.getElementById("x-axis");
    const log = document.getElementById("log-scale");
    const smoothing = document.getElementById("smoothing");
    return {
      x: x ? x.value : "step",
      log: log ? log.checked : false,
      smoothing: smoothing ? Number(smoothing.value) : 0,
    };
  }

  // A chart of one metric for the runs `runs` ([{id, name}]) in `figure`.
  function metricChart(figure, key, runs) {
    const target = figure.querySelector(".chart-plot");
    const state = { range: null, series: null };

    async function load() {
      const options = readOptions();
      const range = options.x === "step" ? state.range : null;
      let byRun;
      try {
        byRun = await fetchHistory(key, runs.map((r) => r.id), range);
      } catch (e) {
        return;  // mltrail.api has shown the server's message; the chart keeps what it had
      }
      state.series = runs.map((r) => ({ label: r.name, points: byRun.get(r.id) || [] }));
      render();
    }

    function render() {
      if (!state.series) return;
      const options = readOptions();
      draw(target, state.series, options, (range, plot) => {
        if (options.x === "step") {
          state.range = range;
          load();
        } else {
          plot.setScale("x", { min: range[0], max: range[1] });
        }
      });
    }

    const reset = figure.querySelector("[data-reset-zoom]");
    if (reset) reset.addEventListener("click", () => { state.range = null; load(); });
    figure._chart = { load, render, state };
    return load();
  }

  function wireControls(figures) {
    const rerender = (refetch) => () => {
      const value = document.getElementById("smoothing-value");
      const smoothing = document.getElementById("smoothing");
      if (value && smoothing) value.textContent = smoothing.value;
      figures().forEach((f) => f._chart && (refetch ? f._chart.load() : f._chart.render()));
    };
    document.getElementById("x-axis")?.addEventListener("change", rerender(true));
    document.getElementById("log-scale")?.addEventListener("change", rerender(false));
    document.getElementById("smoothing")?.addEventListener("input", rerender(false));
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(rerender(false), 150);
    });
  }

  // The run page: a chart per metric, refreshed while the run is RUNNING.
  function runCharts(root) {
    const runs = [{ id: root.dataset.runId, name: root.dataset.runName || root.dataset.runId }];
    const figures = () => Array.from(document.querySelectorAll("#run-charts figure[data-metric]"));
    // A run may have hundreds of metrics: each chart is fetched when it comes into view.
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        metricChart(entry.target, entry.target.dataset.metric, runs);
      }
    }, { rootMargin: "200px" });
    figures().forEach((f) => observer.observe(f));
    wireControls(figures);
    const timer = setInterval(() => {
      const live = document.querySelector("[data-run-status]");
      figures().forEach((f) => { if (f._chart && !f._chart.state.range) f._chart.load(); });
      if (!live || live.dataset.runStatus !== "RUNNING") clearInterval(timer);
    }, LIVE_MS);
    if (document.querySelector("[data-run-status]")?.dataset.runStatus !== "RUNNING") {
      clearInterval(timer);
    }
  }

  // The compare page: one overlaid chart per chosen metric, a series per run.
  function compareCharts(runs, container, picker) {
    const figures = () => Array.from(container.querySelectorAll("figure[data-metric]"));
    function sync() {
      const chosen = Array.from(picker.querySelectorAll("input:checked")).map((i) => i.value);
      figures().forEach((f) => { if (!chosen.includes(f.dataset.metric)) f.remove(); });
      for (const key of chosen) {
        if (figures().some((f) => f.dataset.metric === key)) continue;
        const figure = document.createElement("figure");
        figure.className = "card chart";
        figure.dataset.metric = key;
        const caption = document.createElement("figcaption");
        caption.className = "row";
        const title = document.createElement("strong");
        title.textContent = key;
        const spacer = document.createElement("span");
        spacer.className = "spacer";
        const reset = document.createElement("button");
        reset.type = "button";
        reset.className = "small";
        reset.dataset.resetZoom = "";
        reset.textContent = "Reset zoom";
        caption.append(title, spacer, reset);
        const plot = document.createElement("div");
        plot.className = "chart-plot";
        plot.setAttribute("role", "img");
        plot.setAttribute("aria-label", `Chart of ${key}`);
        figure.append(caption, plot);
        container.append(figure);
        metricChart(figure, key, runs);
      }
    }
    picker.addEventListener("change", sync);
    wireControls(figures);
    sync();
  }

  // A scatter of one field against another: `points` is [{label, x, y}] with numbers. Drawn
  // as SVG, a circle per run (runs may share an x, which uPlot's aligned series cannot show),
  // each with a tooltip naming the run and its two values.
  const SVG_NS = "http://www.w3.org/2000/svg";

  function svgNode(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ticks(lo, hi, count) {
    if (lo === hi) return [lo];
    const raw = (hi - lo) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return out;
  }

  const tickText = (v) => (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3))
    ? v.toExponential(1) : String(Number(v.toPrecision(6)));

  function scatter(target, points, xName, yName) {
    target.replaceChildren();
    const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (!usable.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No run has both values as numbers.";
      target.append(empty);
      return;
    }
    const width = Math.max(280, target.clientWidth - 24 || 480);
    const height = 300;
    const pad = { left: 64, right: 16, top: 12, bottom: 48 };
    const range = (values) => {
      let lo = Math.min(...values);
      let hi = Math.max(...values);
      if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
      const margin = (hi - lo) * 0.05;
      return [lo - margin, hi + margin];
    };
    const [x0, x1] = range(usable.map((p) => p.x));
    const [y0, y1] = range(usable.map((p) => p.y));
    const px = (x) => pad.left + (x - x0) / (x1 - x0) * (width - pad.left - pad.right);
    const py = (y) => height - pad.bottom - (y - y0) / (y1 - y0) * (height - pad.top - pad.bottom);
    const svg = svgNode("svg", { class: "scatter-plot", width, height,
      viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `Scatter of ${yName} against ${xName}, ${usable.length} runs` });
    for (const t of ticks(x0, x1, 6)) {
      svg.append(svgNode("line", { class: "grid", x1: px(t), x2: px(t), y1: pad.top, y2: height - pad.bottom }));
      svg.append(svgNode("text", { class: "tick", x: px(t), y: height - pad.bottom + 16, "text-anchor": "middle" }, tickText(t)));
    }
    for (const t of ticks(y0, y1, 5)) {
      svg.append(svgNode("line", { class: "grid", x1: pad.left, x2: width - pad.right, y1: py(t), y2: py(t) }));
      svg.append(svgNode("text", { class: "tick", x: pad.left - 6, y: py(t) + 4, "text-anchor": "end" }, tickText(t)));
    }
    svg.append(svgNode("text", { class: "axis-label", x: (pad.left + width - pad.right) / 2, y: height - 8, "text-anchor": "middle" }, xName));
    svg.append(svgNode("text", { class: "axis-label", x: 14, y: (pad.top + height - pad.bottom) / 2, "text-anchor": "middle",
      transform: `rotate(-90 14 ${(pad.top + height - pad.bottom) / 2})` }, yName));
    usable.forEach((p) => {
      const dot = svgNode("circle", { class: "dot", cx: px(p.x), cy: py(p.y), r: 5, fill: color(p.index ?? 0) });
      dot.append(svgNode("title", {}, `${p.label}\n${xName}: ${p.x}\n${yName}: ${p.y}`));
      svg.append(dot);
    });
    target.append(svg);
    target.dataset.points = String(usable.length);
  }

  return { fetchHistory, runCharts, compareCharts, scatter, color };
})();
