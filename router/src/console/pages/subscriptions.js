// Subscriptions: every stream-to-worker subscription with its lag (pending, in
// flight, oldest age), progress and blocked keys; pause / resume.

import { get, post } from '../api.js';
import { errorBox, esc, json, table } from '../ui.js';

const secs = (ms) => (ms ? `${(ms / 1000).toFixed(1)} s` : '—');

export async function render(view) {
  const { subscriptions } = await get('/v1/subscriptions');
  view.innerHTML = `<h1>Subscriptions</h1>
    <p class="muted">JetStream streams bound to component functions: one invocation per message, in order per worker.</p>
    <div id="msg"></div>
    ${table(subscriptions, [
      ['name', ({ spec }) => `<b>${esc(spec.name)}</b>${spec.paused ? ' <span class="status interrupted">paused</span>' : ''}`],
      ['from', ({ spec }) => `<span class="mono">${esc(spec.stream)}${spec.filters?.length ? ` [${esc(spec.filters.join(', '))}]` : ''}</span>`],
      ['to', ({ spec }) => `<span class="mono">${esc(spec.component)}/${esc(typeof spec.worker === 'string' ? spec.worker : JSON.stringify(spec.worker))}.${esc(spec.function)}</span>`],
      ['pending', ({ status }) => esc(status?.pending ?? '—')],
      ['in flight', ({ status, spec }) => `${esc(status?.['in-flight'] ?? '—')} / ${esc(spec.window)}`],
      ['oldest age', ({ status }) => secs(status?.['oldest-age-ms'])],
      ['applied', ({ status }) => esc(status?.applied ?? '—')],
      ['dead-lettered', ({ status }) => esc(status?.['dead-lettered'] ?? '—')],
      ['blocked keys', ({ status }) => status?.blocked?.length ? `<pre>${json(status.blocked)}</pre>` : 'none'],
      ['owner', ({ status }) => `<span class="mono">${esc(status?.owner ?? '—')}</span>${status?.error ? `<div class="failed-text">${esc(status.error)}</div>` : ''}`],
      ['', ({ spec }) => `<button class="act" data-name="${esc(spec.name)}" data-action="${spec.paused ? 'resume' : 'pause'}">${spec.paused ? 'resume' : 'pause'}</button>`],
    ], { empty: 'No subscription. Make one with POST /v1/subscriptions or revenant subscription add.' })}`;
  for (const b of view.querySelectorAll('button.act')) {
    b.onclick = async () => {
      try {
        await post(`/v1/subscriptions/${encodeURIComponent(b.dataset.name)}/${b.dataset.action}`);
        await render(view);
      } catch (e) { view.querySelector('#msg').innerHTML = errorBox(e); }
    };
  }
}
