// Overview: live executors and their shards, workers by status, and the invocation
// rate and errors through this router (from /metrics, diffed between refreshes).

import { get, getText } from '../api.js';
import { invocations, parseProm } from '../metrics.js';
import { ago, errorBox, esc, status } from '../ui.js';

const STATUSES = ['idle', 'running', 'suspended', 'interrupted', 'failed', 'exited'];
const EVERY_MS = 3000;

export async function render(view, { isCurrent }) {
  view.innerHTML = `<h1>Overview</h1>
    <div class="grid" id="stats"></div>
    <h2>Executors</h2><div id="executors" class="grid"></div>
    <h2>Workers by status</h2><div id="by-status" class="grid"></div>`;
  let last = null;
  const refresh = async () => {
    const [ex, workers, metrics, components] = await Promise.all([
      get('/v1/executors'), get('/v1/workers?limit=1000'), getText('/metrics'), get('/v1/components'),
    ]);
    if (!isCurrent()) return;
    const inv = invocations(parseProm(metrics));
    const now = Date.now();
    let rate = '—';
    if (last) rate = ((inv.total - last.total) / ((now - last.at) / 1000)).toFixed(2);
    last = { total: inv.total, at: now };
    const held = ex.executors.reduce((n, e) => n + e.shards.length, 0);
    const stat = (id, value, label) =>
      `<div class="card stat" id="${id}"><div class="value">${esc(value)}</div><div class="label">${esc(label)}</div></div>`;
    view.querySelector('#stats').innerHTML = [
      stat('stat-executors', ex.executors.length, 'live executors'),
      stat('stat-shards', `${held}/${ex.shards}`, 'shards held'),
      stat('stat-workers', workers.workers.length + (workers['next-cursor'] ? '+' : ''), 'workers'),
      stat('stat-components', components.length, 'components'),
      stat('stat-invocations', inv.total, 'invocations through this router'),
      stat('stat-rate', rate, 'invocations / s (last 3 s)'),
      stat('stat-errors', inv.errors, `invocation errors (${Object.entries(inv.byStatus).filter(([s]) => s >= 400).map(([s, n]) => `${s}: ${n}`).join(', ') || 'none'})`),
    ].join('');
    view.querySelector('#executors').innerHTML = ex.executors.length
      ? ex.executors.map((e) => `<div class="card executor">
          <b class="mono">${esc(e.id)}</b> <span class="muted">v${esc(e.version)}</span>
          <div class="muted">${e.shards.length} shards · ${e['workers-in-memory']} workers in memory · heartbeat ${ago(e['heartbeat-at'], ex.now)}</div>
          <div class="shards">${e.shards.map((s) => `<span>${s}</span>`).join('')}</div></div>`).join('')
      : '<p class="muted">No live executor: no worker can run. Start one with <code>revenant executor</code>.</p>';
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    for (const w of workers.workers) counts[w.status] = (counts[w.status] ?? 0) + 1;
    view.querySelector('#by-status').innerHTML = Object.entries(counts).map(([s, n]) =>
      `<a class="card stat" href="#/workers?status=${s}" style="text-decoration:none;color:inherit">
        <div class="value">${n}</div><div class="label">${status(s)}</div></a>`).join('');
  };
  const tick = () => refresh().catch((e) => { if (isCurrent()) view.querySelector('#stats').innerHTML = errorBox(e); });
  await tick();
  const timer = setInterval(tick, EVERY_MS);
  return () => clearInterval(timer);
}
