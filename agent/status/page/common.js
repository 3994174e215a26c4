// The operator's page. Plain script, no framework and nothing fetched from outside the
// gateway: it polls the agent's JSON API every 2 s while the page is visible, and
// renders with textContent only, because file names and messages come from the floor.
// This file holds what every part of the page uses; app.js, loaded last, starts it.
'use strict';

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
let token = '';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
  return node;
}

function badge(state, text) {
  return el('span', { class: `badge state-${state}` }, text || state);
}

function setText(id, value) {
  const node = $(id);
  if (node.textContent !== String(value)) node.textContent = value;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

const fmt = {
  num: (n) => (n == null ? '–' : Number(n).toLocaleString()),
  ms: (v) => (v == null ? '–' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`),
  pair: (a, b) => `${fmt.ms(a)} / ${fmt.ms(b)}`,
  time: (ts) => (ts == null ? '–' : new Date(ts).toLocaleTimeString()),
  when: (ts) => (ts == null ? '–' : new Date(ts).toLocaleString()),
  age(s) {
    if (s == null) return '–';
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${Math.round(s / 86400)} d`;
  },
  bytes(n) {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return `${n < 10 && u > 0 ? n.toFixed(1) : Math.round(n)} ${units[u]}`;
  },
  score: (s) => s.toFixed(3),
};

async function api(path, init) {
  const res = await fetch(path, { cache: 'no-store', ...init });
  const body = await res.json().catch(() => ({}));
  return { status: res.status, ok: res.ok, body };
}
