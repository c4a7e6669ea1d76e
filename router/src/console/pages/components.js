// Components: every component's latest version with its exports and their WIT
// signatures, and the other versions.

import { get } from '../api.js';
import { esc, time } from '../ui.js';

const signature = (e) =>
  `${esc(e.name)}: func(${e.params.map(([n, t]) => `${esc(n)}: ${esc(t)}`).join(', ')})${e.result ? ` -&gt; ${esc(e.result)}` : ''}`;

export async function render(view) {
  const list = await get('/v1/components');
  const details = await Promise.all(list.map((c) => get(`/v1/components/${encodeURIComponent(c.name)}`)));
  view.innerHTML = `<h1>Components</h1>${details.length ? '' : '<p class="muted">No component uploaded yet: <code>revenant component add &lt;name&gt; &lt;file.wasm&gt;</code>.</p>'}
    ${details.map((d) => {
      const l = d.latest;
      return `<div class="card component" style="margin-bottom:1em">
        <h2 style="margin-top:.2em"><span style="color:var(--fg);text-transform:none;font-size:1.4em">${esc(d.name)}</span> v${esc(l.version)}${l.ephemeral ? ' · ephemeral' : ''}</h2>
        <div class="muted mono">${esc(l.hash ?? '')} · ${esc(l.size ?? '?')} bytes · uploaded ${time(l['created-at'] ?? l.created_at)}
          · <a href="#/workers?component=${encodeURIComponent(d.name)}">workers</a></div>
        <table style="margin-top:.6em"><thead><tr><th>export</th></tr></thead><tbody>
        ${l.exports.map((e) => `<tr><td class="sig">${signature(e)}</td></tr>`).join('')}</tbody></table>
        ${d.versions.length > 1 ? `<p class="muted">versions: ${d.versions.map((v) => esc(v.version)).join(', ')}</p>` : ''}
      </div>`;
    }).join('')}`;
}
