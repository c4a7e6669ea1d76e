// Unit tests of the console's pure modules (no browser): `node --test units.test.mjs`.
// Run by router/tests/all/console.rs before the browser test.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { failing, invocations, pending } from '../../src/console/history.js';
import { invocations as invocationCounts, parseProm } from '../../src/console/metrics.js';

const e = (index, kind, fields) => ({ index, kind, summary: '', entry: { [kind]: fields } });
const started = (index, key, args = '[1]') => e(index, 'invocation-started', { 'idempotency-key': key, function: 'add', args });
const completed = (index, key, outcome = { ok: '1' }) => e(index, 'invocation-completed', { 'idempotency-key': key, outcome });
const error = (index, retry, fatal = false) => e(index, 'error', { message: `boom ${retry}`, retry, fatal });

test('a failed worker shows the invocation that failed with its retry history', () => {
  const log = [e(1, 'create', {}), started(2, 'a'), completed(3, 'a'), started(4, 'b', '[7]'), error(5, 1), error(6, 2), error(7, 3, true),
    completed(8, 'b', { err: { kind: 'trap', message: 'boom' } })];
  const f = failing(log);
  assert.equal(f.key, 'b');
  assert.equal(f.args, '[7]');
  assert.deepEqual(f.errors.map((x) => [x.index, x.retry, x.fatal]), [[5, 1, false], [6, 2, false], [7, 3, true]]);
  assert.equal(f.completed.index, 8);
});

test('pending invocations are the started one not completed and the parked ones', () => {
  const log = [started(1, 'a'), completed(2, 'a'), started(3, 'b'),
    e(4, 'pending-invocation', { 'idempotency-key': 'c', function: 'get' }),
    e(5, 'pending-invocation', { 'idempotency-key': 'a', function: 'add' })];
  assert.deepEqual(pending(log).map((p) => [p.key, p.state]), [['b', 'started'], ['c', 'parked']]);
});

test('a tombstone forgets the invocations before it', () => {
  const log = [started(1, 'a'), completed(2, 'a'), e(3, 'deleted', {}), started(4, 'b')];
  assert.deepEqual(invocations(log).map((i) => i.key), ['b']);
});

test('invocation requests are counted from the router metrics, errors by status', () => {
  const text = [
    '# HELP revenant_router_requests_total HTTP requests handled.',
    'revenant_router_requests_total{method="POST",route="/v1/components/{component}/workers/{worker}/invoke/{function}",status="200"} 5',
    'revenant_router_requests_total{method="POST",route="/v1/components/{component}/workers/{worker}/invoke/{function}",status="500"} 2',
    'revenant_router_requests_total{method="POST",route="/v1/components/{component}/workers/{worker}/enqueue/{function}",status="202"} 1',
    'revenant_router_requests_total{method="GET",route="/v1/workers",status="200"} 9',
    'revenant_router_request_duration_seconds_bucket{method="GET",route="/v1/workers",status="200",le="0.1"} 9',
  ].join('\n');
  const c = invocationCounts(parseProm(text));
  assert.equal(c.total, 8);
  assert.equal(c.errors, 2);
  assert.deepEqual(c.byStatus, { 200: 5, 500: 2, 202: 1 });
});
