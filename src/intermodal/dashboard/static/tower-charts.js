// The tower's charts: reads /tower/charts/data and draws it with the vendored uPlot.
// A static file because the tower's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var root = document.getElementById("charts");
  if (!root || typeof uPlot === "undefined") { return; }
  var source = root.getAttribute("data-source");
  var refresh = parseInt(root.getAttribute("data-refresh") || "30", 10) * 1000;
  var status = document.getElementById("charts-status");
  var plots = {};
  var colours = { received: "#1f6feb", delivered: "#2da44e", backlog: "#bf8700",
                  dead: "#cf222e", opened: "#8250df", open: "#57606a" };

  function width(el) { return Math.max(320, el.clientWidth || 640); }
  // Counts start at zero, and times read in UTC like every other time in the tower.
  var counts = { range: function (_u, _min, max) { return [0, Math.max(1, max)]; } };
  function utc(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }

  function line(label, stroke, fill) {
    return { label: label, stroke: stroke, width: 2, fill: fill || undefined,
             points: { show: true, size: 4 }, spanGaps: false };
  }

  function timeChart(id, series, data) {
    var el = document.getElementById(id);
    if (plots[id]) { plots[id].setData(data); return plots[id]; }
    var opts = { width: width(el), height: 220, series: [{}].concat(series),
                 scales: { x: { time: true }, y: counts }, tzDate: utc,
                 legend: { live: false } };
    plots[id] = new uPlot(opts, data, el);
    return plots[id];
  }

  function statesChart(states) {
    var id = "chart-states";
    var el = document.getElementById(id);
    var names = states.map(function (s) { return s[0]; });
    var xs = names.map(function (_n, i) { return i; });
    var ys = states.map(function (s) { return s[1]; });
    if (plots[id]) { plots[id].destroy(); }
    var opts = {
      width: width(el), height: 220, legend: { show: false },
      scales: { x: { time: false, range: [-0.5, Math.max(0.5, names.length - 0.5)] }, y: counts },
      axes: [{ values: function (_u, splits) {
                 return splits.map(function (v) { return names[v] === undefined ? "" : names[v]; });
               }, splits: function () { return xs; } }, {}],
      series: [{}, { label: "shipments", stroke: "#1f6feb", fill: "#1f6feb55",
                     paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }]
    };
    plots[id] = new uPlot(opts, [xs, ys], el);
    el.setAttribute("data-states", names.join(","));
  }

  function draw(d) {
    timeChart("chart-traffic", [line("messages in", colours.received),
                                line("commands delivered", colours.delivered)],
              [d.t, d.received, d.delivered]);
    timeChart("chart-backlog", [line("outbox backlog", colours.backlog, "#bf870033")],
              [d.t, d.backlog]);
    timeChart("chart-cases", [line("dead letters", colours.dead),
                              line("cases opened", colours.opened),
                              line("cases open", colours.open)],
              [d.t, d.dead_letters, d.cases_opened, d.open_cases]);
    timeChart("chart-eta", [line("ETA error, as issued (min)", colours.received),
                            line("baseline's error (min)", colours.open)],
              [d.t, d.eta_error, d.eta_baseline_error]);
    statesChart(d.states);
    var total = d.received.reduce(function (a, b) { return a + b; }, 0);
    status.textContent = "times in UTC; last " + d.window + " as of " + d.now.slice(0, 19).replace("T", " ") +
      " UTC: " + total + " messages in; refreshes every " + (refresh / 1000) + " s";
    root.setAttribute("data-loaded", d.now);
  }

  function load() {
    fetch(source, { credentials: "same-origin", headers: { "accept": "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("the hub answered " + r.status); }
        return r.json();
      })
      .then(draw)
      .catch(function (e) { status.textContent = "could not load the charts: " + e.message; });
  }

  load();
  setInterval(load, refresh);
})();
