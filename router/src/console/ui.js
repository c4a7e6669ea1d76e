// Small DOM helpers shared by the pages.

export const esc = (s) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

/** Parses an HTML string (already escaped where needed) into a single element. */
export function el(html) {
  const t = document.createElement('template');
  t.innerHTML = html.trim();
  return t.content.firstElementChild;
}

export const status = (s) => `<span class="status ${esc(s)}">${esc(s)}</span>`;

export function time(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return `<span title="${esc(d.toISOString())}">${esc(d.toLocaleString())}</span>`;
}

export function ago(ms, now = Date.now()) {
  if (!ms) return '—';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export const json = (v) => esc(JSON.stringify(v, null, 2));

/** An error box for an exception (ApiError shows its kind). */
export const errorBox = (e) =>
  `<div class="error-box">${e.kind ? `<b>${esc(e.kind)}</b>: ` : ''}${esc(e.message ?? e)}</div>`;

/** A table from rows; `cols` are `[header, (row) => html]`. */
export function table(rows, cols, { empty = 'Nothing here yet.', rowAttrs = () => '' } = {}) {
  if (!rows.length) return `<p class="muted">${esc(empty)}</p>`;
  const head = cols.map(([h]) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr ${rowAttrs(r)}>${cols.map(([, f]) => `<td>${f(r)}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}
