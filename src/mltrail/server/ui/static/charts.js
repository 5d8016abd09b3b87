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

  // A scatter of one field against another: `points` is [{label, x, y}] with numbers.
  function scatter(target, points, xName, yName) {
    if (target._plot) { target._plot.destroy(); target._plot = null; }
    target.replaceChildren();
    const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
      .sort((a, b) => a.x - b.x);
    if (!usable.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No run has both values.";
      target.append(empty);
      return;
    }
    const width = Math.max(240, target.clientWidth || 480);
    target._plot = new uPlot({
      width,
      height: 300,
      scales: { x: { time: false } },
      axes: [{ label: xName }, { label: yName }],
      series: [
        { label: xName },
        { label: yName, stroke: color(0), paths: () => null,
          points: { show: true, size: 9, fill: color(0) } },
      ],
      cursor: { drag: { x: true, y: true } },
    }, [usable.map((p) => p.x), usable.map((p) => p.y)], target);
  }

  return { fetchHistory, runCharts, compareCharts, scatter, color };
})();
