// Promises: the pending promises of every worker (or filtered), each completable
// with a JSON payload.

import { get, post } from '../api.js';
import { errorBox, esc, table, time } from '../ui.js';

export async function render(view, { query }) {
  const params = new URLSearchParams();
  for (const k of ['component', 'worker']) if (query.get(k)) params.set(k, query.get(k));
  const { promises } = await get(`/v1/promises${params.size ? `?${params}` : ''}`);
  view.innerHTML = `<h1>Promises</h1>
    <p class="muted">Pending promises: a worker awaiting one is suspended until it is completed (here, over HTTP, NATS or the CLI).</p>
    <div id="msg"></div>
    ${table(promises, [
      ['id', (p) => `<span class="mono">${esc(p.id)}</span>`],
      ['worker', (p) => { const [c, w] = p.id.split('/'); return `<a href="#/worker/${encodeURIComponent(c)}/${encodeURIComponent(w)}">${esc(c)}/${esc(w)}</a>`; }],
      ['state', (p) => esc(p.state)],
      ['created', (p) => time(p['created-at'])],
      ['complete with', (p) => `<input type="text" class="payload" data-id="${esc(p.id)}" placeholder='{"approved": true}'> <button class="complete" data-id="${esc(p.id)}">complete</button>`],
    ], { empty: 'No pending promise.' })}`;
  for (const b of view.querySelectorAll('button.complete')) {
    b.onclick = async () => {
      const input = view.querySelector(`input.payload[data-id="${CSS.escape(b.dataset.id)}"]`);
      try {
        const r = await fetchComplete(b.dataset.id, input.value);
        view.querySelector('#msg').innerHTML = `<div class="ok-box">${esc(b.dataset.id)}: ${esc(JSON.stringify(r))}</div>`;
      } catch (e) { view.querySelector('#msg').innerHTML = errorBox(e); }
    };
  }
}

async function fetchComplete(id, payload) {
  const path = id.split('/').map(encodeURIComponent).join('/');
  const body = payload.trim() === '' ? null : JSON.parse(payload);
  return (await post(`/v1/promises/${path}/complete`, body)).body;
}
