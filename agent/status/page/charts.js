// The status page's charts: inline SVG sparklines of the last hour from /api/history.
'use strict';

// ---- charts ----------------------------------------------------------------------

const HISTORY_MS = 5000;
const SVG_NS = 'http://www.w3.org/2000/svg';
const CHART = { w: 300, h: 56, pad: 3 };
let historyAt = 0;

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

// A sparkline over [from, to]: one polyline per series (broken where a value is missing),
// dashed level lines, and marks for points a level names. Scaled from 0 to the largest value.
function sparkline(ts, series, { from, to, levels = [], marks, label, bottom = 0, top: ceiling }) {
  const { w, h, pad } = CHART;
  const values = series.flatMap((sr) => sr.values).filter((v) => v != null);
  const top = ceiling ?? Math.max(...values, ...levels.map((l) => l.value), 1e-9) * 1.1;
  const x = (t) => (Math.max(0, t - from) / Math.max(1, to - from)) * w;
  const y = (v) => h - pad - ((v - bottom) / Math.max(1e-9, top - bottom)) * (h - 2 * pad);
  const root = svgEl('svg', { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', class: 'spark', role: 'img', 'aria-label': label, 'data-points': ts.length });
  for (const l of levels) root.append(svgEl('line', { x1: 0, x2: w, y1: y(l.value), y2: y(l.value), class: `level ${l.cls}` }));
  for (const sr of series) {
    let run = [];
    const flush = () => {
      if (run.length === 1) root.append(svgEl('circle', { cx: run[0][0], cy: run[0][1], r: 2, class: `dot ${sr.cls}` }));
      if (run.length > 1) root.append(svgEl('polyline', { points: run.map((p) => p.join(',')).join(' '), class: `line ${sr.cls}` }));
      run = [];
    };
    sr.values.forEach((v, i) => {
      if (v == null) flush();
      else run.push([x(ts[i]).toFixed(1), y(v).toFixed(1)]);
    });
    flush();
  }
  if (marks) marks.forEach((m, i) => {
    if (m && series[0].values[i] != null) root.append(svgEl('rect', { x: x(ts[i]) - 2, y: y(series[0].values[i]) - 2, width: 4, height: 4, class: `mark ${m}` }));
  });
  return root;
}

function placeChart(box, svgNode, now) {
  const old = box.querySelector('svg');
  if (old) old.replaceWith(svgNode); else box.append(svgNode);
  setNode(box.querySelector('.chart-now'), now);
}

function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
  return null;
}

// The axis ends now and starts at the first point, at most the asked span ago and at least
// 30 s: a young agent's charts fill the width instead of hugging its right edge.
function axisStart(hist, ts) {
  return Math.max(hist.ts - hist.minutes * 60_000, Math.min(hist.ts - 30_000, ts[0] ?? hist.ts));
}

function spanText(ms) {
  return ms < 90_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

function renderHistory(hist) {
  const to = hist.ts;
  const m = hist.metrics;
  const from = axisStart(hist, m.ts);
  const span = `over the last ${spanText(to - from)}, ${m.ts.length} points`;
  setNode($('charts-note'), `A point every ${m.stepS} s and one for now; the charts cover the last ${spanText(to - from)} (at most ${hist.minutes} min).`);
  const rate = last(m.predictionsPerS);
  placeChart($('chart-throughput'), sparkline(m.ts, [{ values: m.predictionsPerS, cls: 'a' }], { from, to, label: `predictions per second ${span}` }),
    rate == null ? '–' : `${rate.toFixed(1)} /s`);
  placeChart($('chart-latency'), sparkline(m.ts, [{ values: m.p99Ms, cls: 'b' }, { values: m.p50Ms, cls: 'a' }], { from, to, label: `frame to commit latency p50 and p99 ${span}` }),
    fmt.pair(last(m.p50Ms), last(m.p99Ms)));
  const depth = last(m.outboxPending);
  placeChart($('chart-outbox'), sparkline(m.ts, [{ values: m.outboxPending, cls: 'a' }], { from, to, label: `outbox depth ${span}` }),
    depth == null ? '–' : fmt.num(depth));

  const box = $('drift-charts');
  const known = new Map([...box.children].map((c) => [c.dataset.model, c]));
  const charts = hist.drift.map((d) => {
    let chart = known.get(d.model);
    if (!chart) {
      chart = el('div', { class: 'chart drift-chart', 'data-model': d.model },
        el('div', { class: 'chart-head' }, el('span', {}, `${d.model}: largest PSI per window`), ' ', el('span', { class: 'chart-level' }), ' ', el('strong', { class: 'chart-now' })));
    }
    const i = d.ts.length - 1;
    const from = axisStart(hist, d.ts);
    const levels = [d.psiWarn == null ? null : { value: d.psiWarn, cls: 'warn' }, d.psiAlarm == null ? null : { value: d.psiAlarm, cls: 'alarm' }].filter(Boolean);
    const label = `${d.model} drift, largest PSI of ${d.windows} windows over the last ${spanText(to - from)}; warn at ${d.psiWarn}, alarm at ${d.psiAlarm}`;
    const level = chart.querySelector('.chart-level');
    level.replaceChildren(i < 0 ? '' : badge(d.level[i]));
    placeChart(chart, sparkline(d.ts, [{ values: d.psi, cls: 'a' }], { from, to, levels, marks: d.level.map((l) => (l === 'ok' ? null : l)), label }),
      i < 0 ? 'no window yet' : `PSI ${d.psi[i] == null ? '–' : d.psi[i].toFixed(3)}${d.subject[i] ? ` (${d.subject[i]})` : ''}`);
    return chart;
  });
  const same = charts.length === box.children.length && charts.every((c, i) => box.children[i] === c);
  if (!same) box.replaceChildren(...charts);
}

async function refreshHistory() {
  historyAt = Date.now();
  const { ok, body } = await api('/api/history?minutes=60');
  if (!ok) throw new Error(body.error || 'history unavailable');
  renderHistory(body);
}
