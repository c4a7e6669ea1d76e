/**
 * A blocking HTTP client over `wasi:http/outgoing-handler` for TypeScript guests
 * (`import { httpRequest } from "revenant/http"`). Revenant journals the request and
 * the whole response, so a replay returns the recorded response without calling the
 * server again. Your world must `import wasi:http/outgoing-handler@0.2.12;`.
 */

import { handle } from "wasi:http/outgoing-handler@0.2.12";
import { Fields, OutgoingBody, OutgoingRequest } from "wasi:http/types@0.2.12";

export interface HttpResponse {
  status: number;
  body: Uint8Array;
  headers: Record<string, string>;
  text(): string;
}

/** The request could not be sent or its response not read (the `wasi:http` error code). */
export class HttpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HttpError";
  }
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function describe(e: unknown): string {
  const p = e && typeof e === "object" && "payload" in e ? (e as { payload: unknown }).payload : e;
  return typeof p === "object" ? JSON.stringify(p) : String(p);
}

/** Sends `method url` with `body` and `headers`; returns the whole response. */
export function httpRequest(
  method: string,
  url: string,
  body?: Uint8Array | string,
  headers: Record<string, string> = {},
): HttpResponse {
  const m = /^(https?):\/\/([^/?#]+)([^#]*)/.exec(url);
  if (!m) throw new HttpError(`expected an absolute http(s) URL, got ${JSON.stringify(url)}`);
  const fields = Fields.fromList(Object.entries(headers).map(([k, v]) => [k, utf8.encode(v)]));
  const req = new OutgoingRequest(fields);
  const known = ["get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"];
  const lower = method.toLowerCase();
  req.setMethod(known.includes(lower) ? { tag: lower } : { tag: "other", val: method });
  req.setScheme({ tag: m[1] === "https" ? "HTTPS" : "HTTP" });
  req.setAuthority(m[2]);
  req.setPathWithQuery(m[3] || "/");
  const out = req.body();
  if (body !== undefined) {
    const bytes = typeof body === "string" ? utf8.encode(body) : body;
    const stream = out.write();
    for (let i = 0; i < bytes.length; i += 4096) stream.blockingWriteAndFlush(bytes.subarray(i, i + 4096));
  }
  OutgoingBody.finish(out, undefined);

  let future;
  try {
    future = handle(req, undefined);
  } catch (e) {
    throw new HttpError(`${method} ${url}: ${describe(e)}`);
  }
  let got = future.get();
  while (got === undefined) {
    future.subscribe().block();
    got = future.get();
  }
  if (got.tag !== "ok" || got.val.tag !== "ok") {
    throw new HttpError(`${method} ${url}: ${JSON.stringify(got.tag === "ok" ? got.val.val : got.val)}`);
  }
  const resp = got.val.val;
  const names: Record<string, string> = {};
  for (const [k, v] of resp.headers().entries()) names[k] = fromUtf8.decode(v);
  const status = resp.status();
  const stream = resp.consume().stream();
  const chunks: Uint8Array[] = [];
  for (;;) {
    try {
      chunks.push(stream.blockingRead(65536n));
    } catch (e) {
      const p = e && typeof e === "object" && "payload" in e ? (e as { payload: { tag?: string } }).payload : undefined;
      if (p && p.tag === "closed") break;
      throw new HttpError(`${method} ${url}: reading the body: ${describe(e)}`);
    }
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return { status, body: all, headers: names, text: () => fromUtf8.decode(all) };
}

/** `GET url`. */
export function httpGet(url: string, headers: Record<string, string> = {}): HttpResponse {
  return httpRequest("GET", url, undefined, headers);
}
