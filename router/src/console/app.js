// The console's shell: hash routing to one page module at a time, each page a
// `render(view, params)` that may return a cleanup (timers, event streams).
// Routes: #/overview, #/workers?component=&status=&q=, #/worker/<c>/<w>,
// #/components, #/schedules, #/promises, #/subscriptions.

import { forgetToken, withToken } from './api.js';
import { errorBox } from './ui.js';

const pages = {
  overview: () => import('./pages/overview.js'),
  workers: () => import('./pages/workers.js'),
  worker: () => import('./pages/worker.js'),
  components: () => import('./pages/components.js'),
  schedules: () => import('./pages/schedules.js'),
  promises: () => import('./pages/promises.js'),
  subscriptions: () => import('./pages/subscriptions.js'),
};

let cleanup = null;
let generation = 0;

function parse(hash) {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'overview', args: parts.slice(1), query: new URLSearchParams(query) };
}

async function route() {
  const mine = ++generation;
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  const { page, args, query } = parse(location.hash);
  const view = document.getElementById('view');
  const nav = page === 'worker' ? 'workers' : page;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === nav);
  const load = pages[page];
  if (!load) { view.innerHTML = errorBox(new Error(`no page ${page}`)); return; }
  view.innerHTML = '<p class="muted">Loading…</p>';
  view.dataset.page = page;
  try {
    const mod = await load();
    if (mine !== generation) return;
    const done = await mod.render(view, { args, query, isCurrent: () => mine === generation });
    if (mine !== generation) { if (typeof done === 'function') done(); return; }
    cleanup = typeof done === 'function' ? done : null;
  } catch (e) {
    if (mine === generation) view.innerHTML = errorBox(e);
  }
}

/** Shows a failure that no page caught. */
function banner(message) {
  const b = document.getElementById('banner');
  b.textContent = message;
  b.hidden = false;
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (e) => banner(`Unexpected error: ${e.reason?.message ?? e.reason}`));
window.addEventListener('error', (e) => banner(`Unexpected error: ${e.message}`));
document.getElementById('forget-token').onclick = () => { forgetToken(); location.reload(); };
document.getElementById('openapi').onclick = (e) => { e.currentTarget.href = withToken('/openapi.json'); };
route();
