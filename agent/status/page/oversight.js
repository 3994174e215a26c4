// The status page's fail-safe, live accuracy and segment audit cards.
'use strict';

// ---- fail-safes, live accuracy, segment audits -------------------------------------

const STEP_WORDS = { model: 'serving model', fallback: 'fallback model', rule: 'rule', manual: 'manual inspection' };
const MEASURE_WORDS = { classMix: 'class mix', confidence: 'confidence', fallbackShare: 'fallback share', accuracy: 'accuracy' };
const pct = (v) => (v == null ? '–' : `${(v * 100).toFixed(1)} %`);

// One row per model with labels or a fail-safe chain: live accuracy against what the manifest
// (or the config) expects, its level in words, and how often the fail-safe steps answered.
function renderOversight(o) {
  const failsafe = new Map(((o && o.failsafe) || []).map((f) => [f.model, f]));
  const accuracy = new Map(((o && o.accuracy) || []).map((a) => [a.model, a]));
  const models = [...new Set([...accuracy.keys(), ...failsafe.keys()])];
  $('accuracy-none').hidden = models.length > 0;
  $('accuracy').hidden = models.length === 0;
  fill($('accuracy').tBodies[0], models.map((name) => {
    const a = accuracy.get(name);
    const f = failsafe.get(name);
    return el('tr', { 'data-model': name },
      el('td', {}, name),
      el('td', { class: 'accuracy-value' }, a && a.accuracy != null ? pct(a.accuracy) : 'no labels yet'),
      el('td', {}, a ? (a.window ? `${fmt.num(a.labels)} of ${fmt.num(a.window)}` : fmt.num(a.labels)) : '–'),
      el('td', {}, a && a.expected != null ? `${pct(a.expected)} (${a.expectedFrom === 'manifest' ? 'manifest validation' : 'config'})` : 'none stated'),
      el('td', { class: 'accuracy-level' }, !a ? '–' : a.chart.length === 0 ? badge('idle', 'not judged yet') : badge(a.level)),
      el('td', { class: 'wrap fallback-share' }, ...(f ? fallbackShare(f) : ['no fail-safe chain'])),
      el('td', { class: 'wrap' }, f ? Object.entries(f.steps).map(([k, n]) => `${STEP_WORDS[k] || k} ${fmt.num(n)}`).join(' · ') : '–'));
  }));
  renderAccuracyCharts([...accuracy.values()].filter((a) => a.chart.length > 0));
}

function fallbackShare(f) {
  const over = f.fallbackShare > f.degradedShare;
  return [`${pct(f.fallbackShare)} of the last ${fmt.age(f.windowS)} `, badge(over ? 'degraded' : 'ok', over ? 'over limit' : 'within limit'),
    ` limit ${pct(f.degradedShare)}`, ...(f.manualNow ? [' ', badge('fault', 'needs inspection now')] : [])];
}

// The control chart: live accuracy per judgement, the expected accuracy and the warn and alarm
// lines below it dashed, judgements at warn or alarm marked. Redrawn only when a point is added.
function renderAccuracyCharts(list) {
  const box = $('accuracy-charts');
  const known = new Map([...box.children].map((c) => [c.dataset.model, c]));
  const charts = list.map((a) => {
    let chart = known.get(a.model);
    if (!chart) {
      chart = el('div', { class: 'chart accuracy-chart', 'data-model': a.model },
        el('div', { class: 'chart-head' }, el('span', { class: 'chart-title' }), ' ', el('span', { class: 'chart-level' }), ' ', el('strong', { class: 'chart-now' })));
    }
    const c = a.chart;
    const key = `${c.length}:${c[c.length - 1].ts}`;
    if (chart.dataset.key !== key) {
      chart.dataset.key = key;
      const p = c[c.length - 1];
      const ts = c.map((q) => q.ts);
      const levels = [{ value: p.expected, cls: 'expected' }, { value: p.warnAt, cls: 'warn' }, { value: p.alarmAt, cls: 'alarm' }];
      const bottom = Math.max(0, Math.min(...c.map((q) => q.accuracy), p.alarmAt) - 0.05);
      const label = `${a.model} live accuracy, ${c.length} judgements; expected ${pct(p.expected)}, warn below ${pct(p.warnAt)}, alarm below ${pct(p.alarmAt)}`;
      placeChart(chart, sparkline(ts, [{ values: c.map((q) => q.accuracy), cls: 'a' }], { from: Math.min(ts[0], p.ts - 30_000), to: p.ts, levels, marks: c.map((q) => (q.level === 'ok' ? null : q.level)), label, bottom, top: 1 }),
        `${pct(p.accuracy)} over ${fmt.num(p.labels)} labels`);
      setNode(chart.querySelector('.chart-title'), `${a.model}: live accuracy; dashed: expected ${pct(p.expected)}, warn, alarm`);
      chart.querySelector('.chart-level').replaceChildren(badge(p.level));
    }
    return chart;
  });
  const same = charts.length === box.children.length && charts.every((c, i) => box.children[i] === c);
  if (!same) box.replaceChildren(...charts);
}

// The latest closed audit period: each segment's figures, and what differs from the typical segment.
function renderSegments(seg) {
  const note = $('segments-note');
  const table = $('segments');
  const last = seg && seg.lastPeriod;
  note.classList.toggle('placeholder', !last);
  table.hidden = !last;
  if (!seg) { setNode(note, 'segment audits are off'); return; }
  if (!last) { setNode(note, `no audit period closed yet (segments by ${seg.keys.join(', ')}; a period lasts ${fmt.age(seg.periodS)})`); return; }
  const n = last.disparities.length;
  setNode(note, `period ended ${fmt.time(last.endedAt)} (every ${fmt.age(seg.periodS)}), segments by ${seg.keys.join(', ')}; ${n === 0 ? 'no disparity' : `${n} ${n === 1 ? 'disparity' : 'disparities'}`}`);
  fill(table.tBodies[0], last.segments.map((g) => {
    const found = last.disparities.filter((d) => d.model === g.model && d.key === g.key && d.value === g.value);
    const mix = Object.entries(g.classes).sort((a, b) => b[1] - a[1]).map(([l, k]) => `${l} ${pct(g.predictions > 0 ? k / g.predictions : 0)}`).join(', ');
    return el('tr', { 'data-segment': `${g.model}|${g.key}|${g.value}` },
      el('td', {}, g.model), el('td', {}, `${g.key} ${g.value}`), el('td', {}, fmt.num(g.predictions)),
      el('td', { class: 'wrap' }, mix || '–'),
      el('td', {}, g.meanConfidence == null ? '–' : fmt.score(g.meanConfidence)),
      el('td', {}, pct(g.fallbackShare)),
      el('td', {}, g.labelled > 0 && g.accuracy != null ? `${pct(g.accuracy)} of ${fmt.num(g.labelled)} labelled` : 'no labels'),
      el('td', { class: 'wrap disparity' }, ...(found.length === 0 ? [badge('ok', 'in line')]
        : [badge('alarm', 'differs'), ' ', found.map((d) => `${MEASURE_WORDS[d.measure] || d.measure} by ${d.difference} (limit ${d.limit})`).join('; ')])));
  }));
}
