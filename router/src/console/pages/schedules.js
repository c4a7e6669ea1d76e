// Schedules: the scheduled invocations and cron schedules of every worker (or of
// one), with their next fire time and last firing; a schedule can be cancelled.

import { call, get, workerPath } from '../api.js';
import { errorBox, esc, json, table, time } from '../ui.js';

const MAX_WORKERS = 200;

/** A schedule's arguments (a JSON array, or its text) as `a, b`. */
function argsText(args) {
  let list = args;
  if (typeof list === 'string') { try { list = JSON.parse(list); } catch { return list; } }
  return Array.isArray(list) ? list.map((a) => JSON.stringify(a)).join(', ') : JSON.stringify(list ?? '');
}

export async function render(view, { query }) {
  const only = query.get('worker');
  const { workers } = await get(`/v1/workers?limit=${MAX_WORKERS}`);
  const ids = workers.map((w) => `${w.id.component}/${w.id.worker}`).filter((id) => !only || id === only);
  const lists = await Promise.all(ids.map(async (id) => {
    const [c, w] = id.split('/');
    try { return (await get(`${workerPath(c, w)}/schedules`)).schedules.map((s) => ({ ...s, _id: id })); }
    catch { return []; }
  }));
  const all = lists.flat();
  view.innerHTML = `<h1>Schedules</h1>
    <p class="muted">Scheduled invocations and cron of ${only ? esc(only) : `every worker (the first ${MAX_WORKERS})`}.
      Make one with <code>POST /v1/components/&lt;c&gt;/workers/&lt;w&gt;/schedules</code> or <code>revenant schedule</code>.</p>
    <div id="msg"></div>
    ${table(all, [
      ['worker', (s) => `<a href="#/worker/${s._id.split('/').map(encodeURIComponent).join('/')}">${esc(s._id)}</a>`],
      ['id', (s) => `<span class="mono">${esc(s.id)}</span>`],
      ['schedule', (s) => `<span class="mono">${esc(s.schedule)}</span>${s['time-zone'] ? ` <span class="muted">${esc(s['time-zone'])}</span>` : ''}`],
      ['function', (s) => `<span class="mono">${esc(s.function)}(${esc(argsText(s.args))})</span>`],
      ['next', (s) => time(Date.parse(s.next) || s.next)],
      ['overlap', (s) => esc(s.overlap ?? '')],
      ['last firing', (s) => s['last-firing'] ? `<pre>${json(s['last-firing'])}</pre>` : '—'],
      ['', (s) => `<button class="danger cancel" data-worker="${esc(s._id)}" data-id="${esc(s.id)}">cancel</button>`],
    ], { empty: 'No schedule.' })}`;
  for (const b of view.querySelectorAll('button.cancel')) {
    b.onclick = async () => {
      const [c, w] = b.dataset.worker.split('/');
      try {
        await call(`${workerPath(c, w)}/schedules/${encodeURIComponent(b.dataset.id)}`, { method: 'DELETE' });
        render(view, { query });
      } catch (e) { view.querySelector('#msg').innerHTML = errorBox(e); }
    };
  }
}
