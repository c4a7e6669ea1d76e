// Time travel on the worker page: the worker's state as of an oplog index, from
// `GET …/inspect?at=` (the owner executor replays the oplog up to it on a throwaway
// instance and answers every invocation started by then with what it returned).

import { get, workerPath } from './api.js';
import { errorBox, esc } from './ui.js';

const outcome = (o) => (o ? ('ok' in o ? esc(o.ok) : `<span class="failed-text long">${esc(o.err?.kind)}: ${esc(o.err?.message)}</span>`) : '—');

/** Renders the state of `c/w` as of `at` into `box`. */
export async function show(box, c, w, at) {
  box.innerHTML = `<p class="muted">Replaying ${esc(c)}/${esc(w)} up to oplog index ${esc(at)} on a throwaway instance…</p>`;
  let i;
  try {
    i = await get(`${workerPath(c, w)}/inspect?at=${encodeURIComponent(at)}`);
  } catch (e) {
    box.innerHTML = errorBox(e);
    return;
  }
  const last = i.invocations.filter((x) => x.replayed === 'replayed').pop();
  box.innerHTML = `<div class="card" id="time-travel-result">
    <div><b>As of oplog index ${esc(i.at)}</b> <span class="muted">of ${esc(i['last-index'])} · component v${esc(i['component-version'])}${i['snapshot-covers'] ? ` · loaded from the snapshot covering index ${esc(i['snapshot-covers'])}` : ''}</span></div>
    ${i.failed ? `<div class="error-box long">failed by then: ${esc(i.failed)}</div>` : ''}
    ${i.interrupted ? '<div class="muted">interrupted by then</div>' : ''}
    ${last ? `<p>Last result by then: <code class="as-of-result">${esc(last.function)}(${esc(last.args)}) → ${esc(last.result)}</code></p>` : '<p class="muted">No invocation had completed by then.</p>'}
    <table><thead><tr><th>started</th><th>invocation</th><th>replayed</th><th>recorded</th><th>replay</th></tr></thead><tbody>
    ${i.invocations.map((x) => `<tr class="inspected"><td>${esc(x.started)}</td>
      <td class="mono">${esc(x.function)}(${esc(x.args)})<div class="muted">${esc(x['idempotency-key'])}</div></td>
      <td class="mono">${x.result !== undefined ? esc(x.result) : '—'}</td>
      <td class="mono">${outcome(x.recorded)}</td>
      <td class="${x.replayed === 'diverged' ? 'diverged' : 'replayed'}">${esc(x.replayed)}${x.message ? `<div>${esc(x.message)}</div>` : ''}</td></tr>`).join('')}
    </tbody></table></div>`;
}
