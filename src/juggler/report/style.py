"""The report's inline CSS and its one small script (a crosshair shared by all charts).

Kept apart from the page assembly so the HTML code reads as structure. The
script only moves a vertical line to the same time in every chart and prints
that time; the report works without it.
"""

from __future__ import annotations

CSS = """
:root { font: 14px/1.4 system-ui, sans-serif; color: #222; }
body { margin: 0 auto; max-width: 1040px; padding: 0 16px 48px; }
h1 { font-size: 1.5em; margin: 16px 0 4px; }
h2 { margin-top: 28px; border-bottom: 1px solid #ddd; }
h3 { margin: 18px 0 4px; }
.meta, .caption, .note-text { color: #555; font-size: .9em; }
nav a { margin-right: 12px; }
table { border-collapse: collapse; margin: 8px 0; font-size: .92em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
th { background: #f4f4f4; }
td.l, th.l { text-align: left; } td:not(.l) { white-space: nowrap; }
tr:target { background: #fff3c4; }
.best { font-weight: bold; color: #1b7a2e; } .bad { color: #b3261e; } .warn { color: #9a6700; }
svg { width: 100%; height: auto; display: block; overflow: visible; }
svg text { font: 10px system-ui, sans-serif; fill: #444; }
.ytick { text-anchor: end; } .xtick { text-anchor: middle; } .rowlabel { font-weight: bold; }
.grid { stroke: #e6e6e6; } .frame, .tick { stroke: #888; }
.xhair { stroke: #333; stroke-width: .8; pointer-events: none; visibility: hidden; }
.xhair.on { visibility: visible; }
path { fill: none; stroke-width: 1.4; } path.env { stroke: none; opacity: .22; }
path[class^="l-"] { stroke: none; }
.l-resident { fill: #4e79a7; } .l-host_swapped { fill: #e15759; } .l-balloon { fill: #f28e2b; }
.l-other { fill: #dcdcdc; } .l-guest_swapped { fill: #b07aa1; opacity: .75; }
.s-ws-estimate { stroke: #111; stroke-dasharray: 5 3; }
.s-ws-true { stroke: #2e7d32; stroke-width: 2; }
.s-target { stroke: #8a4b00; stroke-dasharray: 2 2; }
.mark-configured { stroke: #333; stroke-width: 1; }
.mark-limit { stroke: #6a1b9a; stroke-dasharray: 8 3 2 3; }
.mark-reservation { stroke: #00897b; stroke-width: 1.6; stroke-dasharray: 3 3; }
.s-available { stroke: #1565c0; } .env.s-available { fill: #1565c0; }
.s-swap-in, .s-host-in { stroke: #c62828; } .env.s-swap-in, .env.s-host-in { fill: #c62828; }
.s-swap-out, .s-host-out { stroke: #ef9a9a; } .env.s-swap-out, .env.s-host-out { fill: #ef9a9a; }
.s-guest-in { stroke: #6a1b9a; } .env.s-guest-in { fill: #6a1b9a; }
.s-guest-out { stroke: #ce93d8; } .env.s-guest-out { fill: #ce93d8; }
.s-slowdown, .s-faults { stroke: #d84315; } .env.s-slowdown, .env.s-faults { fill: #d84315; }
.s-p99 { stroke: #b71c1c; } .env.s-p99 { fill: #b71c1c; }
.s-p50 { stroke: #00838f; } .env.s-p50 { fill: #00838f; }
.s-accesses { stroke: #2e7d32; } .env.s-accesses { fill: #2e7d32; }
.s-disk-read { stroke: #5d4037; stroke-dasharray: 4 2; } .env.s-disk-read { fill: #5d4037; }
.s-disk-write { stroke: #a1887f; stroke-dasharray: 4 2; } .env.s-disk-write { fill: #a1887f; }
rect.state { stroke: none; } .state-high { fill: #e8f5e9; } .state-soft { fill: #fff8e1; }
.state-hard { fill: #ffe0b2; } .state-low { fill: #ffcdd2; }
rect.finding { fill: #d32f2f; opacity: .10; stroke: #d32f2f; stroke-opacity: .5; }
rect.finding:target, a:hover rect.finding { opacity: .3; }
.span-label { fill: #b71c1c; font-weight: bold; }
.dec-inflate { fill: #f28e2b; stroke: #8a4b00; stroke-width: .5; }
.dec-deflate { fill: #4e79a7; stroke: #1a3d66; stroke-width: .5; transform-box: fill-box;
  transform-origin: center; transform: rotate(180deg); }
.bar { stroke: none; } .best-bar { stroke: #111; stroke-width: 2; }
.group { text-anchor: middle; font-size: 11px; } .na { text-anchor: middle; fill: #999; }
.value { text-anchor: middle; font-size: 9px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: .85em;
  margin: 2px 0 10px 76px; }
.sw { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; }
.sw.line { height: 0; border-top: 2px solid; vertical-align: 3px; }
.sw.l-resident { background: #4e79a7; } .sw.l-host_swapped { background: #e15759; }
.sw.l-balloon { background: #f28e2b; } .sw.l-other { background: #dcdcdc; }
.sw.l-guest_swapped { background: #b07aa1; }
.sw.s-ws-estimate { border-top: 2px dashed #111; } .sw.s-ws-true { border-top-color: #2e7d32; }
.sw.s-target { border-top: 2px dotted #8a4b00; } .sw.mark-configured { border-top-color: #333; }
.sw.mark-limit { border-top: 2px dashed #6a1b9a; }
.sw.mark-reservation { border-top: 2px dashed #00897b; }
.sw.s-available { border-top-color: #1565c0; }
.sw.s-swap-in, .sw.s-host-in { border-top-color: #c62828; }
.sw.s-swap-out, .sw.s-host-out { border-top-color: #ef9a9a; }
.sw.s-guest-in { border-top-color: #6a1b9a; } .sw.s-guest-out { border-top-color: #ce93d8; }
.sw.s-slowdown, .sw.s-faults { border-top-color: #d84315; }
.sw.s-p99 { border-top-color: #b71c1c; } .sw.s-p50 { border-top-color: #00838f; }
.sw.s-accesses { border-top-color: #2e7d32; }
.sw.s-disk-read { border-top: 2px dashed #5d4037; }
.sw.s-disk-write { border-top: 2px dashed #a1887f; }
.sw.state-high { background: #e8f5e9; } .sw.state-soft { background: #fff8e1; }
.sw.state-hard { background: #ffe0b2; } .sw.state-low { background: #ffcdd2; }
.sw.finding { background: #f4c7c7; } .sw.dec-inflate { background: #f28e2b; }
.sw.dec-deflate { background: #4e79a7; }
#readout { position: fixed; right: 12px; top: 8px; background: #333; color: #fff;
  padding: 2px 8px; border-radius: 4px; font-size: .85em; }
details > summary { cursor: pointer; color: #1565c0; }
/* juggler fidelity: the lab solid, the simulator dashed, one colour per series */
.f-resident { stroke: #4e79a7; } .f-balloon { stroke: #f28e2b; } .f-swapped { stroke: #e15759; }
path.f-lab { stroke-width: 1.8; } path.f-sim { stroke-width: 1.6; stroke-dasharray: 6 3; }
.sw.f-resident { border-top-color: #4e79a7; } .sw.f-balloon { border-top-color: #f28e2b; }
.sw.f-swapped { border-top-color: #e15759; } .sw.f-sim { border-top-style: dashed; }
.sw.f-lab, .sw.f-sim { width: 26px; }
"""

SCRIPT = """
(function () {
  var charts = Array.prototype.slice.call(document.querySelectorAll('svg.chart'));
  var readout = document.getElementById('readout');
  function clock(t) {
    var m = Math.floor(t / 60), s = t - 60 * m;
    return (m ? m + 'm' : '') + s.toFixed(m ? 0 : 1) + 's';
  }
  function place(x) {
    charts.forEach(function (c) {
      var line = c.querySelector('line.xhair');
      line.setAttribute('x1', x); line.setAttribute('x2', x);
      line.setAttribute('class', x < 0 ? 'xhair' : 'xhair on');
    });
  }
  charts.forEach(function (c) {
    c.addEventListener('mousemove', function (ev) {
      var box = c.getBoundingClientRect(), d = c.dataset;
      var x = (ev.clientX - box.left) * Number(d.width) / box.width;
      var f = (x - Number(d.left)) / (Number(d.width) - Number(d.left) - Number(d.right));
      if (f < 0 || f > 1) { place(-10); readout.hidden = true; return; }
      place(x);
      readout.textContent = 't = ' + clock(Number(d.t0) + f * (Number(d.t1) - Number(d.t0)));
      readout.hidden = false;
    });
    c.addEventListener('mouseleave', function () { place(-10); readout.hidden = true; });
  });
})();
"""
