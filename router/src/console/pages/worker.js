// One worker: its status and record; the failed state (the error, the failing
// invocation with its arguments, the retry history); pending invocations; buttons
// to interrupt, resume and crash it; an invoke form generated from the exports'
// WIT signatures; its live events (SSE); its oplog with each entry's details; and
// its state as of any oplog index (time travel).

import { call, get, post, withToken, workerPath } from '../api.js';
import { failing, pending } from '../history.js';
import { args as formArgs, form } from '../invoke_form.js';
import { show as timeTravel } from '../timetravel.js';
import { errorBox, esc, json, status, table, time } from '../ui.js';

const EVENT_KINDS = ['stdout', 'stderr', 'log', 'invocation-started', 'invocation-finished',
  'interrupted', 'resumed', 'snapshot', 'updated', 'deleted', 'snapshot-fallback', 'message'];

export async function render(view, { args: [c, w], query, isCurrent }) {
  const base = workerPath(c, w);
  view.innerHTML = `<h1>${esc(c)}/${esc(w)} <span id="w-status"></span></h1>
    <div class="toolbar">
      <button id="btn-interrupt">Interrupt</button>
      <button id="btn-resume">Resume</button>
      <button id="btn-crash" class="danger" title="Kill the worker's instance as a crash would and recover it">Crash</button>
      <button id="btn-refresh">Refresh</button>
      <span id="action-result"></span>
    </div>
    <div id="record" class="card"></div>
    <div id="failed"></div>
    <div class="cols">
      <div>
        <h2>Oplog</h2><div id="oplog"></div>
        <h2>Entry</h2><div id="entry" class="muted">Select an oplog entry to see it whole.</div>
      </div>
      <div>
        <h2>Invoke</h2><div class="card" id="invoke"></div>
        <h2>Live events</h2><pre id="events"></pre>
        <h2>Pending invocations</h2><div id="pending"></div>
        <h2>Time travel</h2>
        <div class="toolbar"><label>state as of oplog index <input id="tt-at" type="number" min="1" step="1" style="width:6em"></label>
          <button id="tt-go">Replay</button></div>
        <div id="time-travel"><p class="muted">Pick an index (or "as of" on an oplog entry) to see the worker as it was then, replayed on a throwaway instance.</p></div>
      </div>
    </div>`;
  const $ = (s) => view.querySelector(s);

  // Live events first, so nothing an action below causes is missed.
  const events = $('#events');
  const source = new EventSource(withToken(`${base}/events`));
  const append = (e) => {
    const line = document.createElement('div');
    line.className = `event ${e.type}`;
    line.innerHTML = `<span class="kind">${esc(e.type)}</span> ${esc(e.data)}`;
    events.append(line);
    events.scrollTop = events.scrollHeight;
    if (e.type === 'invocation-finished' || e.type === 'interrupted' || e.type === 'resumed') refresh();
  };
  for (const kind of EVENT_KINDS) source.addEventListener(kind, append);
  source.onopen = () => { events.dataset.open = 'true'; };

  let entries = [];
  let refreshing = null;
  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const rec = await get(base).catch((e) => (e.status === 404 ? null : Promise.reject(e)));
        if (!isCurrent()) return;
        if (!rec) {
          $('#record').innerHTML = '<p class="muted">No such worker yet: invoking a function below creates it.</p>';
          return;
        }
        entries = await readOplog(base);
        if (!isCurrent()) return;
        showRecord(rec);
        showFailed(rec);
        showPending(rec);
        showOplog();
      } catch (e) {
        if (isCurrent()) $('#record').innerHTML = errorBox(e);
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  function showRecord(rec) {
    $('#w-status').innerHTML = status(rec.status);
    $('#record').innerHTML = `<div class="grid">
      <div><span class="muted">status</span><br><b id="status-text">${esc(rec.status)}</b></div>
      <div><span class="muted">component version</span><br>${esc(rec['component-version'])}</div>
      <div><span class="muted">oplog index</span><br><span id="last-index">${esc(entries.at(-1)?.index ?? rec['oplog-index'])}</span></div>
      <div><span class="muted">pending invocations</span><br>${esc(rec['pending-invocations'])}</div>
      <div><span class="muted">created</span><br>${time(rec['created-at'])}</div>
      <div><span class="muted">updated</span><br>${time(rec['updated-at'])}</div>
      ${rec.waiting?.length ? `<div><span class="muted">waiting for</span><br>${esc(rec.waiting.join(', '))}</div>` : ''}
      ${rec.args?.length ? `<div><span class="muted">args</span><br><code>${esc(rec.args.join(' '))}</code></div>` : ''}
      ${rec.env?.length ? `<div><span class="muted">env</span><br><code>${esc(rec.env.map(([k, v]) => `${k}=${v}`).join(' '))}</code></div>` : ''}
    </div>`;
  }

  function showFailed(rec) {
    if (rec.status !== 'failed' && !rec['last-error']) { $('#failed').innerHTML = ''; return; }
    const inv = failing(entries);
    $('#failed').innerHTML = `<h2>Failed</h2><div class="card" id="failed-state">
      <div class="error-box long" id="failed-error">${esc(rec['last-error'] ?? 'failed')}</div>
      ${inv ? `<p>Failing invocation (oplog index ${esc(inv.started)}): <code>${esc(inv.function)}(${esc(inv.args)})</code>
        <span class="muted">key ${esc(inv.key)}</span></p>
        <h2>Retry history</h2>${table(inv.errors, [
          ['index', (e) => esc(e.index)], ['attempt', (e) => esc(e.retry)], ['at', (e) => time(e.at)],
          ['fatal', (e) => (e.fatal ? 'yes' : 'no')], ['error', (e) => `<span class="failed-text long">${esc(e.message)}</span>`],
        ], { empty: 'No error entry recorded for it.' })}` : ''}
    </div>`;
  }

  function showPending(rec) {
    $('#pending').innerHTML = table(pending(entries), [
      ['index', (p) => esc(p.index)], ['state', (p) => esc(p.state)],
      ['invocation', (p) => `<code>${esc(p.function)}${p.args ? `(${esc(p.args)})` : ''}</code>`],
      ['key', (p) => `<span class="muted mono">${esc(p.key)}</span>`],
    ], { empty: rec['pending-invocations'] ? `${rec['pending-invocations']} queued (not journaled yet).` : 'None: every invocation sent has completed.' });
  }

  function showOplog() {
    $('#oplog').innerHTML = table(entries, [
      ['#', (e) => esc(e.index)], ['kind', (e) => esc(e.kind)],
      ['summary', (e) => `<span class="mono">${esc(e.summary)}</span>`],
      ['', (e) => `<button class="as-of" data-index="${e.index}" title="the worker's state as of this entry">as of</button>`],
    ], { rowAttrs: (e) => `class="clickable oplog-entry" data-index="${e.index}"`, empty: 'Empty oplog.' });
    for (const tr of view.querySelectorAll('tr.oplog-entry')) {
      tr.onclick = (ev) => {
        const e = entries.find((x) => String(x.index) === tr.dataset.index);
        for (const s of view.querySelectorAll('tr.selected')) s.classList.remove('selected');
        tr.classList.add('selected');
        $('#entry').innerHTML = `<div class="card"><b>#${esc(e.index)} ${esc(e.kind)}</b><pre id="entry-json">${json(e.entry)}</pre></div>`;
        if (ev.target.classList.contains('as-of')) travel(e.index);
      };
    }
  }

  function travel(at) {
    $('#tt-at').value = at;
    history.replaceState(null, '', `#/worker/${encodeURIComponent(c)}/${encodeURIComponent(w)}?at=${at}`);
    return timeTravel($('#time-travel'), c, w, at);
  }
  $('#tt-go').onclick = () => travel($('#tt-at').value);

  // Actions: interrupt and resume (control requests), crash (simulate-crash).
  const act = (name, path) => async () => {
    const out = $('#action-result');
    out.innerHTML = `<span class="muted">${esc(name)}…</span>`;
    try {
      const r = (await post(`${base}/${path}`)).body;
      const recovered = typeof r.recovered_ms === 'number'
        ? `, recovered by replay in ${r.recovered_ms.toFixed(1)} ms` : '';
      out.innerHTML = `<span class="ok-box" id="action-ok">${esc(name)}: ${esc(r.worker)} ${esc(r.status)}${esc(recovered)}</span>`;
    } catch (e) {
      out.innerHTML = `<span class="error-box" id="action-error">${esc(name)} failed: ${e.kind ? `${esc(e.kind)}: ` : ''}${esc(e.message)}</span>`;
    }
    refresh();
  };
  $('#btn-interrupt').onclick = act('interrupt', 'interrupt');
  $('#btn-resume').onclick = act('resume', 'resume');
  $('#btn-crash').onclick = act('crash', 'simulate-crash');
  $('#btn-refresh').onclick = () => refresh();

  await Promise.all([refresh(), invokeForm(view, c, w, base)]);
  if (query.get('at')) travel(query.get('at'));
  return () => source.close();
}

/** Reads the whole oplog, a page of 1000 at a time. */
async function readOplog(base) {
  const out = [];
  let from = 1;
  for (;;) {
    const page = await get(`${base}/oplog?from=${from}&count=1000`);
    out.push(...page.entries);
    if (!page.next) return out;
    from = page.next;
  }
}

async function invokeForm(view, c, w, base) {
  const box = view.querySelector('#invoke');
  let component;
  try { component = await get(`/v1/components/${encodeURIComponent(c)}`); }
  catch (e) { box.innerHTML = errorBox(e); return; }
  const exports = component.latest.exports;
  box.innerHTML = `<div class="toolbar"><select id="inv-fn">${exports.map((e, i) =>
      `<option value="${i}">${esc(e.name)}</option>`).join('')}</select>
      <span class="sig muted" id="inv-sig"></span></div>
    <form id="inv-form"><div id="inv-params"></div>
      <div class="toolbar"><button class="primary" id="inv-go" type="submit">Invoke</button>
      <label class="muted">idempotency key <input type="text" id="inv-key" placeholder="(new)"></label></div></form>
    <div id="inv-result" class="result"></div>`;
  const pick = () => {
    const fn = exports[Number(box.querySelector('#inv-fn').value)];
    box.querySelector('#inv-sig').textContent = `(${fn.params.map(([n, t]) => `${n}: ${t}`).join(', ')})${fn.result ? ` -> ${fn.result}` : ''}`;
    box.querySelector('#inv-params').innerHTML = form(fn);
    box.querySelector('#inv-result').innerHTML = '';
  };
  box.querySelector('#inv-fn').onchange = pick;
  pick();
  box.querySelector('#inv-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const fn = exports[Number(box.querySelector('#inv-fn').value)];
    const out = box.querySelector('#inv-result');
    let values;
    try { values = formArgs(box.querySelector('#inv-params')); }
    catch (e) { out.innerHTML = errorBox(e); return; }
    const key = box.querySelector('#inv-key').value.trim();
    out.innerHTML = '<span class="muted">invoking…</span>';
    try {
      const r = await call(`${base}/invoke/${encodeURIComponent(fn.name)}`, {
        method: 'POST', body: JSON.stringify(values), headers: key ? { 'Idempotency-Key': key } : {},
      });
      const pendingNote = r.status === 202 ? ' <span class="muted">(still running: poll the location)</span>' : '';
      out.innerHTML = `<div class="ok-box">${esc(fn.name)}(${esc(values.map((v) => JSON.stringify(v)).join(', '))}) →
        <code id="invoke-result">${esc(JSON.stringify(r.body))}</code>${pendingNote}
        <div class="muted">key ${esc(r.headers.get('idempotency-key') ?? '')}</div></div>`;
    } catch (e) {
      out.innerHTML = `<div id="invoke-error">${errorBox(e)}</div>`;
    }
  };
}
