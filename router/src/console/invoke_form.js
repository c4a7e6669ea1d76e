// The invoke form, generated from an export's WIT signature: one input per
// parameter, chosen by its recorded shape (`{type, of}`: bool, integer, float, char,
// string, record, option, list, other), read back into the JSON the API takes
// (executor/src/values.rs: the one JSON <-> WIT mapping).

import { esc } from './ui.js';

let seq = 0;

/** HTML of the input(s) for a value of `shape`; `wit` is its WIT text when known. */
export function input(shape, wit = '') {
  const id = `f${++seq}`;
  const t = shape?.type ?? 'other';
  switch (t) {
    case 'bool':
      return `<input type="checkbox" data-kind="bool" id="${id}">`;
    case 'integer':
      return `<input type="number" step="1" data-kind="integer" id="${id}" placeholder="${esc(wit || 'integer')}">`;
    case 'float':
      return `<input type="number" step="any" data-kind="float" id="${id}" placeholder="${esc(wit || 'float')}">`;
    case 'char':
      return `<input type="text" maxlength="2" size="3" data-kind="char" id="${id}">`;
    case 'string':
      return `<input type="text" data-kind="string" id="${id}" placeholder="${esc(wit || 'string')}">`;
    case 'record':
      return `<fieldset data-kind="record">${shape.of.map(([name, s]) =>
        `<div class="form-row" data-field="${esc(name)}"><label>${esc(name)}<span class="type">${esc(describe(s))}</span></label><div>${input(s)}</div></div>`).join('')}</fieldset>`;
    case 'option':
      return `<div data-kind="option"><label><input type="checkbox" class="some"> some</label> <div class="inner">${input(shape.of)}</div></div>`;
    default:
      // Lists and everything without a form of its own (variant, enum, tuple, result, flags) are JSON.
      return `<textarea data-kind="json" id="${id}" placeholder="${esc(t === 'list' ? `JSON array of ${describe(shape.of)}` : `JSON for ${wit || describe(shape)}`)}">${t === 'list' ? '[]' : ''}</textarea>`;
  }
}

/** Short text of a shape. */
export function describe(s) {
  switch (s?.type) {
    case 'record': return `record {${s.of.map(([n]) => n).join(', ')}}`;
    case 'option': return `option<${describe(s.of)}>`;
    case 'list': return `list<${describe(s.of)}>`;
    case 'other': return s.of;
    default: return s?.type ?? '?';
  }
}

/** The JSON value an input (the element holding `data-kind`) holds; throws saying what is wrong. */
export function read(node, path) {
  const kind = node.dataset.kind;
  switch (kind) {
    case 'bool': return node.checked;
    case 'integer': {
      if (node.value.trim() === '') throw new Error(`${path}: enter an integer`);
      const v = Number(node.value.trim());
      if (!Number.isSafeInteger(v)) throw new Error(`${path}: ${node.value} is not an integer this form can send exactly (use the API for values past 2^53)`);
      return v;
    }
    case 'float':
      if (node.value.trim() === '') throw new Error(`${path}: enter a number`);
      return Number(node.value);
    case 'char':
    case 'string': return node.value;
    case 'record': {
      const out = {};
      for (const row of node.querySelectorAll(':scope > .form-row')) {
        out[row.dataset.field] = read(row.querySelector(':scope > div > [data-kind]'), `${path}.${row.dataset.field}`);
      }
      return out;
    }
    case 'option':
      return node.querySelector(':scope > label > .some').checked
        ? read(node.querySelector(':scope > .inner > [data-kind]'), path) : null;
    default:
      try { return JSON.parse(node.value || 'null'); }
      catch (e) { throw new Error(`${path}: not JSON (${e.message})`); }
  }
}

/** The whole form for `fn` (an export: `{name, params, result, shapes}`). */
export function form(fn) {
  const shapes = fn.shapes?.length === fn.params.length ? fn.shapes : fn.params.map(([, t]) => ({ type: 'other', of: t }));
  const rows = fn.params.map(([name, wit], i) =>
    `<div class="form-row param" data-param="${esc(name)}"><label>${esc(name)}<span class="type">${esc(wit)}</span></label><div>${input(shapes[i], wit)}</div></div>`).join('');
  return rows || '<p class="muted">No parameters.</p>';
}

/** The arguments array the form holds. */
export function args(container) {
  return [...container.querySelectorAll('.form-row.param')].map((row) =>
    read(row.querySelector(':scope > div > [data-kind]'), row.dataset.param));
}
