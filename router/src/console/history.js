// What a worker's oplog says about it, for the worker page (pure functions over
// the `/oplog` entries `{index, kind, summary, entry: {<kind>: {…}}}`):
// the failing invocation and its retry history, and the invocations not done yet.

const body = (e) => e.entry?.[e.kind] ?? {};

/** Every invocation: `{started, key, function, args, errors: [{index, message, retry, fatal, at}], completed}`. */
export function invocations(entries) {
  const byKey = new Map();
  const out = [];
  let open = null;
  for (const e of entries) {
    const b = body(e);
    if (e.kind === 'invocation-started') {
      open = { started: e.index, at: b.at, key: b['idempotency-key'], function: b.function, args: b.args, errors: [], completed: null };
      out.push(open);
      byKey.set(open.key, open);
    } else if (e.kind === 'error') {
      const target = open ?? out[out.length - 1];
      if (target) target.errors.push({ index: e.index, message: b.message, retry: b.retry, fatal: b.fatal, at: b.at });
    } else if (e.kind === 'invocation-completed') {
      const inv = byKey.get(b['idempotency-key']);
      if (inv) inv.completed = { index: e.index, outcome: b.outcome, at: b.at };
      if (open && open.key === b['idempotency-key']) open = null;
    } else if (e.kind === 'deleted') {
      out.length = 0; byKey.clear(); open = null;
    }
  }
  return out;
}

/** The invocation a failed worker failed in: the last one with errors (or the last one). */
export function failing(entries) {
  const all = invocations(entries);
  for (let i = all.length - 1; i >= 0; i--) if (all[i].errors.length) return all[i];
  return all[all.length - 1] ?? null;
}

/** Invocations not completed: the running one (started, no completion) and parked ones. */
export function pending(entries) {
  const done = new Set();
  const started = new Set();
  for (const e of entries) {
    const b = body(e);
    if (e.kind === 'invocation-completed') done.add(b['idempotency-key']);
    if (e.kind === 'invocation-started') started.add(b['idempotency-key']);
  }
  const out = [];
  for (const inv of invocations(entries)) {
    if (!inv.completed) out.push({ key: inv.key, function: inv.function, args: inv.args, state: 'started', index: inv.started });
  }
  for (const e of entries) {
    const b = body(e);
    if (e.kind === 'pending-invocation' && !done.has(b['idempotency-key']) && !started.has(b['idempotency-key'])) {
      out.push({ key: b['idempotency-key'], function: b.function, args: null, state: 'parked', index: e.index });
    }
  }
  return out;
}
