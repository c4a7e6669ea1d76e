// Workers: every worker with filters (component, status) and a search box; a row
// opens the worker's page.

import { get } from '../api.js';
import { ago, esc, status, table } from '../ui.js';

const STATUSES = ['idle', 'running', 'suspended', 'interrupted', 'failed', 'exited'];

export async function render(view, { query }) {
  const components = await get('/v1/components');
  const component = query.get('component') ?? '';
  const st = query.get('status') ?? '';
  const q = query.get('q') ?? '';
  view.innerHTML = `<h1>Workers</h1>
    <div class="toolbar">
      <select id="f-component"><option value="">all components</option>${components.map((c) =>
        `<option ${c.name === component ? 'selected' : ''}>${esc(c.name)}</option>`).join('')}</select>
      <select id="f-status"><option value="">any status</option>${STATUSES.map((s) =>
        `<option ${s === st ? 'selected' : ''}>${s}</option>`).join('')}</select>
      <input id="f-search" type="search" placeholder="search names and errors" value="${esc(q)}">
      <span class="muted" id="count"></span>
    </div>
    <div id="list"></div>`;
  const params = new URLSearchParams({ limit: '1000' });
  if (component) params.set('component', component);
  if (st) params.set('status', st);
  const { workers } = await get(`/v1/workers?${params}`);
  const apply = () => {
    const needle = view.querySelector('#f-search').value.trim().toLowerCase();
    const shown = workers.filter((w) => !needle
      || `${w.id.component}/${w.id.worker} ${w['last-error'] ?? ''}`.toLowerCase().includes(needle));
    view.querySelector('#count').textContent = `${shown.length} of ${workers.length}`;
    view.querySelector('#list').innerHTML = table(shown, [
      ['worker', (w) => `<a href="#/worker/${encodeURIComponent(w.id.component)}/${encodeURIComponent(w.id.worker)}">${esc(w.id.component)}/${esc(w.id.worker)}</a>`],
      ['status', (w) => status(w.status)],
      ['version', (w) => esc(w['component-version'])],
      ['oplog', (w) => esc(w['oplog-index'])],
      ['pending', (w) => esc(w['pending-invocations'])],
      ['updated', (w) => ago(w['updated-at'])],
      ['last error', (w) => `<span class="failed-text">${esc(w['last-error'] ?? '')}</span>`],
    ], { empty: 'No worker matches.' });
  };
  const hash = () => {
    const p = new URLSearchParams();
    for (const [k, id] of [['component', '#f-component'], ['status', '#f-status'], ['q', '#f-search']]) {
      const v = view.querySelector(id).value.trim();
      if (v) p.set(k, v);
    }
    return `#/workers${p.size ? `?${p}` : ''}`;
  };
  // A filter asks the API again (a new route); the search only filters what is shown,
  // keeping the address in step without reloading.
  view.querySelector('#f-component').onchange = () => { location.hash = hash(); };
  view.querySelector('#f-status').onchange = () => { location.hash = hash(); };
  view.querySelector('#f-search').oninput = () => {
    apply();
    history.replaceState(null, '', hash());
  };
  apply();
}
