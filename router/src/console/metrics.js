// Reading the router's Prometheus text (`/metrics`): invocation counts by outcome.
// Pure functions, so the overview can diff two readings into a rate.

/** Parses `name{a="b",…} value` lines into `[{name, labels, value}]` (comments skipped). */
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const INVOKING = /\/(invoke|enqueue)\/\{function\}$/;

/** Invocation requests through this router: `{total, errors, byStatus}`. */
export function invocations(samples) {
  const r = { total: 0, errors: 0, byStatus: {} };
  for (const s of samples) {
    if (s.name !== 'revenant_router_requests_total' || !INVOKING.test(s.labels.route ?? '')) continue;
    r.total += s.value;
    if (Number(s.labels.status) >= 400) r.errors += s.value;
    r.byStatus[s.labels.status] = (r.byStatus[s.labels.status] ?? 0) + s.value;
  }
  return r;
}
