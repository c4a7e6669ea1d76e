// The console's one way to the REST API: bearer tokens (asked for on a 401 and kept
// for this tab), JSON in and out, errors as exceptions carrying the API's `{kind, message}`.

const TOKEN = 'revenant-token';

export const token = () => sessionStorage.getItem(TOKEN);
export const forgetToken = () => sessionStorage.removeItem(TOKEN);

/** `url` with `?access_token=` for what cannot send headers (EventSource, links). */
export function withToken(url) {
  const t = token();
  return t ? `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(t)}` : url;
}

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

/** Calls the API; returns `{status, body, headers}` for 2xx, throws ApiError otherwise. */
export async function call(url, { method = 'GET', body, headers = {}, text = false } = {}) {
  const t = token();
  const h = { ...headers };
  if (t) h.Authorization = `Bearer ${t}`;
  if (body !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
  const r = await fetch(url, { method, headers: h, body });
  const raw = await r.text();
  let parsed = raw;
  if (!text) {
    try { parsed = raw ? JSON.parse(raw) : null; } catch { parsed = raw; }
  }
  if (r.status === 401 || r.status === 403) {
    const entered = prompt(`${parsed?.message ?? r.statusText}\n\nBearer token for this router:`);
    if (entered) {
      sessionStorage.setItem(TOKEN, entered.trim());
      return call(url, { method, body, headers, text });
    }
  }
  if (!r.ok) {
    throw new ApiError(r.status, parsed?.kind ?? 'http', parsed?.message ?? `${r.status} ${r.statusText}`);
  }
  return { status: r.status, body: parsed, headers: r.headers };
}

export const get = async (url) => (await call(url)).body;
export const getText = async (url) => (await call(url, { text: true })).body;
export const post = (url, json) =>
  call(url, { method: 'POST', body: json === undefined ? '' : JSON.stringify(json) });

/** `/v1/components/<c>/workers/<w>` */
export const workerPath = (c, w) =>
  `/v1/components/${encodeURIComponent(c)}/workers/${encodeURIComponent(w)}`;
