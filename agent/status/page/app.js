// The status page's overview, predictions, explanations, events, actions and polling;
// common.js, charts.js and oversight.js are loaded before it.
'use strict';

// ---- overview ----------------------------------------------------------------------

function renderStatus(s) {
  document.title = `${s.health.state} · ${s.device} · edge-agent`;
  setText('device', s.device);
  setText('site', s.site);
  $('verdict').className = `verdict state-${s.health.state}`;
  setText('verdict-state', s.health.state);
  setText('verdict-reason', s.health.reason);
  fill($('verdict-reasons'), s.health.reasons.slice(1).map((r) => el('li', {}, r)));

  setText('throughput', s.throughput.predictionsPerS.toFixed(1));
  setText('predictions-total', fmt.num(s.counters.predictions));
  setText('latency-commit', fmt.pair(s.latency.frameToCommit.p50Ms, s.latency.frameToCommit.p99Ms));
  const c = s.counters;
  setText('frame-counters', `${fmt.num(c.framesIn)} · ${fmt.num(c.rejected)} · ${fmt.num(c.dropped)} · ${fmt.num(c.errors)}`);
  const x = s.explanations;
  setText('explain-counters', x ? `${fmt.num(x.explained)} · ${fmt.num(x.skippedBudget)} · ${fmt.num(x.skippedBusy)} · ${fmt.num(x.failed)}` : 'explanations not configured');

  fill($('models').tBodies[0], s.models.map((m) => el('tr', {},
    el('td', {}, m.name, ' ', m.loaded ? '' : badge('fault', 'not loaded')),
    el('td', {}, m.version),
    el('td', {}, [m.rollout.state, m.rollout.candidate, m.rollout.reason].filter(Boolean).join(' · ')),
    el('td', {}, fmt.num(m.predictions)),
    el('td', {}, fmt.pair(m.inference.p50Ms, m.inference.p99Ms)))));

  fill($('sources').tBodies[0], s.sources.map((src) => el('tr', {},
    el('td', {}, src.id),
    el('td', {}, src.type),
    el('td', {}, badge(src.state)),
    el('td', {}, fmt.num(src.frames)),
    el('td', {}, src.lastFrameTs == null ? 'no frame yet' : `${fmt.time(src.lastFrameTs)} (${fmt.age(src.lastFrameAgeS)} ago)`))));

  renderOpcua(s.opcua);

  const b = $('broker-state');
  b.className = `badge state-${s.broker.connected ? 'connected' : 'disconnected'}`;
  b.textContent = s.broker.connected ? 'connected' : 'disconnected';
  setText('broker-url', s.broker.url);
  setText('broker-ack', s.broker.lastAckTs == null ? 'none yet' : fmt.time(s.broker.lastAckTs));
  setText('outbox-pending', fmt.num(s.outbox.pending));
  setText('outbox-age', s.outbox.oldestPendingAgeS == null ? 'nothing waiting' : `${fmt.age(s.outbox.oldestPendingAgeS)} old`);

  if (s.disk) {
    const share = s.disk.totalBytes > 0 ? s.disk.usedBytes / s.disk.totalBytes : 0;
    $('disk-meter').value = share;
    setText('disk-text', `${fmt.bytes(s.disk.usedBytes)} used, ${fmt.bytes(s.disk.freeBytes)} free of ${fmt.bytes(s.disk.totalBytes)} (${Math.round(share * 100)} % used)`);
    setText('disk-store', `store ${fmt.bytes(s.disk.storeBytes)} in ${s.disk.path}; ${s.disk.quotaBytes == null ? 'no store quota set' : `quota ${fmt.bytes(s.disk.quotaBytes)}`}`);
  } else {
    setText('disk-text', 'disk usage unavailable');
  }

  setText('drift', s.drift.configured
    ? (s.drift.models || []).map((m) => `${m.model}: ${m.level}, ${m.windows} windows judged`).join('; ') || 'no window judged yet'
    : 'drift not configured');
  $('drift').classList.toggle('placeholder', !s.drift.configured);
  $('drift-gauges-box').hidden = s.drift.gauges.length === 0;
  fill($('drift-gauges'), s.drift.gauges.map((g) => {
    const over = g.threshold != null && g.value >= g.threshold;
    return el('li', {}, `${g.model} ${g.name}: ${g.value.toFixed(3)}`, ' ', over ? badge('alarm', 'over alarm level') : badge('ok', 'below alarm level'));
  }));
  renderAlarms(s.alarms);
  renderOversight(s.oversight);
  renderSegments(s.oversight && s.oversight.segments);

  setText('agent-version', s.agentVersion);
  setText('uptime', fmt.age(s.uptimeS));
  setText('actions-note', s.actions.enabled
    ? 'Actions need the token configured on the gateway.'
    : 'Actions are disabled on this gateway: no token configured (status.token).');
}

// OPC-UA links and their tags: the connection and each tag's quality, in words beside the colour.
function renderOpcua(o) {
  const has = !!(o && o.configured);
  $('opcua-none').hidden = has;
  $('opcua-servers').hidden = !has;
  $('opcua-tags').hidden = !has || o.tags.length === 0;
  if (!has) return;
  fill($('opcua-servers').tBodies[0], o.servers.map((l) => el('tr', {},
    el('td', {}, l.id, el('br'), el('span', { class: 'muted' }, l.endpoint)),
    el('td', {}, badge(l.state), l.sessions > 1 ? ` ${l.sessions} sessions` : ''),
    el('td', {}, `${l.securityMode} ${l.securityPolicy}`),
    el('td', {}, fmt.time(l.changedTs)),
    el('td', { class: 'wrap' }, l.lastError || 'none'))));
  fill($('opcua-tags').tBodies[0], o.tags.map((t) => el('tr', {},
    el('td', {}, t.name), el('td', {}, t.server),
    el('td', {}, badge(t.quality)), el('td', {}, t.status),
    el('td', {}, t.value == null ? '–' : typeof t.value === 'number' ? String(Math.round(t.value * 1000) / 1000) : String(t.value)),
    el('td', {}, fmt.time(t.ts)))));
}

// Active alarms each with an acknowledge button; acknowledged ones stay listed below.
// Rows are kept by alarm id so a poll does not replace a button under the operator's finger.
function renderAlarms(alarms) {
  const active = alarms.filter((a) => !a.acknowledged);
  const seen = alarms.filter((a) => a.acknowledged);
  syncList($('alarms'), active, 'no active alarms', (a) => {
    const button = el('button', { type: 'button', class: 'ack', 'data-alarm': a.id }, 'Acknowledge');
    button.addEventListener('click', () => acknowledge(a.id).catch(linkDown));
    return el('li', {}, badge(a.severity === 'critical' ? 'alarm' : 'warn', a.severity), ' ', el('span', { class: 'msg' }), ' ', button);
  }, (li, a) => setNode(li.querySelector('.msg'), `${a.message} since ${fmt.time(a.since)}`));
  syncList($('alarms-acked'), seen, null, () => el('li', {}, badge('acknowledged'), ' ', el('span', { class: 'msg' })),
    (li, a) => setNode(li.querySelector('.msg'), `${a.message} since ${fmt.time(a.since)}`));
}

function syncList(ul, items, empty, create, update) {
  const old = new Map([...ul.children].filter((li) => li.dataset.id).map((li) => [li.dataset.id, li]));
  const rows = items.map((item) => {
    let li = old.get(item.id);
    if (!li) { li = create(item); li.dataset.id = item.id; }
    update(li, item);
    return li;
  });
  if (rows.length === 0 && empty) rows.push(el('li', { class: 'placeholder' }, empty));
  const same = rows.length === ul.children.length && rows.every((r, i) => ul.children[i] === r);
  if (!same) ul.replaceChildren(...rows);
}

function setNode(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

async function refreshReady() {
  const r = await api('/readyz');
  setText('ready', r.body.ready ? 'yes' : `no: ${(r.body.reasons || []).join('; ')}`);
}

// ---- predictions -----------------------------------------------------------------

async function refreshPredictions() {
  const q = new URLSearchParams();
  const label = $('filter-label').value.trim();
  if (label) q.set('label', label);
  if ($('filter-flagged').checked) q.set('flagged', 'true');
  if ($('filter-alarm').checked) q.set('alarm', 'true');
  q.set('limit', $('filter-limit').value);
  const { ok, body } = await api(`/api/predictions?${q}`);
  if (!ok) throw new Error(body.error || 'predictions unavailable');
  const list = body.predictions;
  const labels = new Set(list.map((p) => p.label));
  fill($('known-labels'), [...labels].sort().map((l) => el('option', { value: l })));
  fill($('prediction-list').tBodies[0], list.map((p) => {
    const row = el('tr', { tabindex: '0', 'data-seq': String(p.seq) },
      el('td', {}, p.seq), el('td', {}, fmt.time(p.ts)), el('td', {}, p.source),
      el('td', {}, `${p.model} ${p.modelVersion}`), el('td', {}, p.label), el('td', {}, fmt.score(p.score)),
      el('td', {}, ...p.flags.map((f) => badge(f, f.replace('_', ' ')))),
      el('td', {}, p.sentAt == null ? 'waiting' : 'sent'));
    const open = () => { location.hash = `#prediction/${p.seq}`; };
    row.addEventListener('click', open);
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    return row;
  }));
  $('prediction-empty').hidden = list.length > 0;
}

async function showPrediction(seq) {
  const { ok, body: p } = await api(`/api/predictions/${seq}`);
  setText('detail-title', ok ? `Prediction #${p.seq}: ${p.label}` : `Prediction #${seq}`);
  if (!ok) {
    fill($('detail-fields'), [el('dt', {}, 'error'), el('dd', {}, p.error || 'not found')]);
    fill($('detail-topk').tBodies[0], []);
    $('detail-truth-card').hidden = true;
    return;
  }
  $('detail-truth-card').hidden = false;
  const step = el('span', { id: 'detail-step' }, badge(`step-${p.step}`, STEP_WORDS[p.step] || p.step), p.fallbackReason ? ` because ${p.fallbackReason}` : '');
  const fields = [['Label', p.label], ['Made by', step], ['Score', fmt.score(p.score)], ['Model', `${p.model} ${p.modelVersion}`], ['Source', p.source],
    ['Frame', p.frameId], ['Taken', fmt.when(p.ts)], ['Latency', fmt.ms(p.latencyMs)],
    ['Sent to central', p.sentAt == null ? 'waiting in the outbox' : fmt.when(p.sentAt)], ['Flags', p.flags.join(', ') || 'none']];
  fill($('detail-fields'), fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  fill($('detail-topk').tBodies[0], p.topK.map((t) => {
    const bar = el('span', { class: 'bar' });
    bar.style.width = `${Math.round(t.score * 8 * 10) / 10}rem`;
    return el('tr', {}, el('td', {}, t.label), el('td', {}, fmt.score(t.score)), el('td', {}, bar));
  }));
  renderThumbnail($('detail-thumbnail'), p);
  renderExplanation($('detail-explanation'), p.explanation);
  renderDriftContext($('detail-drift'), p.drift);
  renderTruth(p);
}

// The label attached so far, and the form to attach one: the model's labels to choose from,
// or free text (suggesting the top scores) when the gateway does not know them.
function renderTruth(p) {
  const g = p.groundTruth;
  const box = $('detail-truth');
  box.classList.toggle('placeholder', !g);
  if (!g) box.replaceChildren('no label attached yet');
  else {
    box.replaceChildren(el('p', {}, badge(g.correct ? 'ok' : 'bad', g.correct ? 'prediction right' : 'prediction wrong'), ` labelled "${g.label}" by ${g.by}, ${fmt.when(g.ts)}`),
      ...(g.sampleId == null ? [] : [el('p', { class: 'caption' }, `input kept for retraining (sample ${g.sampleId})`)]));
  }
  const form = $('label-form');
  if (form.dataset.seq !== String(p.seq)) { form.dataset.seq = String(p.seq); setNode($('label-result'), ''); }
  const choices = p.labelChoices;
  const current = g ? g.label : p.label;
  $('label-choice-field').hidden = !choices;
  $('label-text-field').hidden = !!choices;
  if (choices) {
    fill($('label-choice'), choices.map((l) => el('option', { value: l }, l)));
    $('label-choice').value = choices.includes(current) ? current : choices[0];
  } else {
    fill($('label-suggestions'), [...new Set(p.topK.map((t) => t.label))].map((l) => el('option', { value: l })));
    $('label-text').value = g ? g.label : '';
  }
}

// The input is kept only when it was captured (low confidence, drift alarm, operator request).
function renderThumbnail(box, p) {
  const t = p.thumbnail;
  box.classList.toggle('placeholder', !t);
  if (!t) { box.replaceChildren('no thumbnail stored'); return; }
  box.replaceChildren(el('img', { class: 'thumbnail', src: t.url, alt: `the input of prediction ${p.seq}` }),
    el('p', { class: 'caption' }, `kept for retraining (${t.reason || 'captured'}), ${fmt.bytes(t.bytes)}`));
}

// The drift window the prediction was judged in: its level in words, and what moved most.
function renderDriftContext(box, d) {
  box.classList.toggle('placeholder', !d);
  if (!d) { box.replaceChildren('no drift window judged it: the model is not watched, or its window is still open'); return; }
  box.replaceChildren(
    el('p', {}, badge(d.level), ` window ${fmt.time(d.windowStartedAt)} – ${fmt.time(d.windowEndedAt)}, ${fmt.num(d.samples)} predictions`),
    el('p', {}, d.psi == null ? 'no PSI measured' : `largest PSI ${d.psi.toFixed(3)} (${d.subject})`),
    d.findings.length ? el('ul', { class: 'findings' }, ...d.findings.map((f) => el('li', {}, f))) : el('p', { class: 'muted' }, 'every statistic within its limits'));
}

// ---- explanations ----------------------------------------------------------------

// An occlusion map: the small overlay the gateway stored, or the grid itself drawn in cells;
// Shapley values: one bar per feature, right for pushing the output up, left for down.
function renderExplanation(box, e) {
  box.classList.toggle('placeholder', !e);
  if (!e) { box.replaceChildren('no explanation'); return; }
  const v = e.values;
  if (e.method === 'occlusion') {
    const heat = Array.from(atob(v.heat), (c) => v.min + (c.charCodeAt(0) / 255) * (v.max - v.min));
    const top = Math.max(...heat, 0);
    const picture = v.overlay
      ? el('img', { class: 'heatmap-overlay', src: `data:image/png;base64,${v.overlay}`, alt: `occlusion map of ${v.label}` })
      : el('div', { class: 'heatmap-grid', role: 'img', 'aria-label': `occlusion map of ${v.label}` }, ...heat.map((h) => {
        const cell = el('span');
        cell.style.opacity = String(top > 0 ? Math.max(0, h) / top : 0);
        return cell;
      }));
    if (!v.overlay) picture.style.gridTemplateColumns = `repeat(${v.cols}, 1fr)`;
    box.replaceChildren(picture, el('p', { class: 'caption' },
      `Red: covering that part of the image lowered "${v.label}" (${fmt.score(v.score)}) the most, by up to ${fmt.score(top)}. ${v.rows} × ${v.cols} cells, ${v.runs} model runs.`));
    return;
  }
  if (e.method === 'shapley') {
    const span = Math.max(...v.values.map(Math.abs), 1e-12);
    const rows = v.features.map((f, i) => {
      const bar = el('span', { class: `bar ${v.values[i] >= 0 ? 'up' : 'down'}` });
      bar.style.width = `${Math.round((Math.abs(v.values[i]) / span) * 60) / 10}rem`;
      return el('tr', {}, el('td', {}, f), el('td', {}, v.values[i].toFixed(4)), el('td', {}, bar));
    });
    box.replaceChildren(el('table', { class: 'shapley' }, el('tbody', {}, ...rows)),
      el('p', { class: 'caption' }, `${v.output}: ${v.baseValue.toFixed(4)} on average over ${v.backgroundRows} reference rows, ${v.prediction.toFixed(4)} here; the bars add up to the difference${v.exact ? '' : ' (sampled)'}.`));
    return;
  }
  box.replaceChildren(el('p', {}, `${e.method} explanation`));
}

// ---- events ----------------------------------------------------------------------

async function refreshEvents() {
  const q = new URLSearchParams({ limit: '200' });
  const kind = $('filter-kind').value;
  if (kind) q.set('kind', kind);
  const { ok, body } = await api(`/api/events?${q}`);
  if (!ok) throw new Error(body.error || 'events unavailable');
  const select = $('filter-kind');
  const known = new Set([...select.options].map((o) => o.value));
  for (const k of body.kinds) if (!known.has(k)) select.append(el('option', { value: k }, k));
  fill($('event-list').tBodies[0], body.events.map((e) => el('tr', {},
    el('td', {}, fmt.when(e.ts)), el('td', {}, badge(e.level)), el('td', {}, e.kind),
    el('td', {}, e.source || ''), el('td', { class: 'wrap' }, e.message))));
  $('event-empty').hidden = body.events.length > 0;
}

// ---- actions ---------------------------------------------------------------------

async function runAction(name) {
  const out = $('action-result');
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const { status, ok, body } = await api(`/api/actions/${name}`, { method: 'POST', headers });
  out.className = ok ? 'done' : 'refused';
  out.textContent = ok ? `${name}: done` : `${name} refused (${status}): ${body.error || 'unknown error'}`;
}

async function acknowledge(id) {
  const out = $('alarm-result');
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const { status, ok, body } = await api(`/api/actions/alarms/${id.replace(/[^A-Za-z0-9._:-]/g, encodeURIComponent)}/ack`, { method: 'POST', headers });
  out.className = ok ? 'done' : 'refused';
  out.textContent = ok ? `${id}: acknowledged` : `acknowledge ${id} refused (${status}): ${body.error || 'unknown error'}`;
  if (ok) poll(true);
}

// The label goes with the same token as the other actions; a refusal is shown as theirs are.
async function attachLabel() {
  const out = $('label-result');
  const seq = Number($('label-form').dataset.seq);
  const label = ($('label-choice-field').hidden ? $('label-text').value : $('label-choice').value).trim();
  if (!seq) return;
  if (!label) { out.className = 'refused'; out.textContent = 'type the correct label first'; return; }
  const by = $('label-by').value.trim();
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const { status, ok, body } = await api('/api/actions/label', { method: 'POST', headers, body: JSON.stringify({ seq, label, ...(by ? { by } : {}) }) });
  out.className = ok ? 'done' : 'refused';
  out.textContent = ok
    ? `prediction ${seq} labelled "${label}"${body.result && body.result.correct === false ? ' (the prediction was wrong)' : ''}`
    : `label refused (${status}): ${body.error || 'unknown error'}`;
  if (ok && Number($('label-form').dataset.seq) === seq) await showPrediction(String(seq));
}

// ---- tabs and polling ------------------------------------------------------------

function route() {
  const hash = location.hash || '#overview';
  const detail = /^#prediction\/(\d+)$/.exec(hash);
  const tab = detail ? 'prediction-detail' : hash.slice(1);
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== tab;
  if (!$(tab)) $('overview').hidden = false;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === (detail ? '#predictions' : hash));
  if (detail) showPrediction(detail[1]).catch(linkDown);
  poll(true);
}

let timer;
let first = true;
// A poll started by a tab switch supersedes one still waiting for its answer: one loop only.
let generation = 0;
async function poll(now) {
  clearTimeout(timer);
  const mine = ++generation;
  if (!now && document.hidden) return;
  try {
    const status = await api('/api/status');
    renderStatus(status.body);
    if (first) { first = false; performance.mark('status-rendered'); }
    if (!$('overview').hidden) await refreshReady();
    if (!$('overview').hidden && Date.now() - historyAt >= HISTORY_MS) await refreshHistory();
    if (!$('predictions').hidden) await refreshPredictions();
    if (!$('events').hidden) await refreshEvents();
    const link = $('link-state');
    link.className = 'badge state-connected';
    link.textContent = 'live';
    setText('updated', new Date().toLocaleTimeString());
  } catch (err) {
    linkDown(err);
  }
  if (mine === generation) timer = setTimeout(() => poll(false), POLL_MS);
}

function linkDown() {
  const link = $('link-state');
  link.className = 'badge state-disconnected';
  link.textContent = 'agent unreachable';
}

window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(true); });
// One token for every action: the Actions card's field and the label form's are the same value.
for (const id of ['token', 'label-token']) {
  $(id).addEventListener('input', (e) => {
    token = e.target.value.trim();
    for (const other of ['token', 'label-token']) if (other !== id) $(other).value = e.target.value;
  });
}
$('label-form').addEventListener('submit', (e) => { e.preventDefault(); attachLabel().catch(linkDown); });
for (const b of document.querySelectorAll('[data-action]')) b.addEventListener('click', () => runAction(b.dataset.action).catch(linkDown));
$('prediction-filter').addEventListener('input', () => refreshPredictions().catch(linkDown));
$('prediction-filter').addEventListener('submit', (e) => e.preventDefault());
$('event-filter').addEventListener('change', () => refreshEvents().catch(linkDown));
route();
