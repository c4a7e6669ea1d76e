/**
 * Log lines with levels over `wasi:logging` for TypeScript guests
 * (`import { info, warn } from "revenant/log"`): each is a `log` event of the worker
 * with its level and context (`revenant connect`, the console, the router's SSE
 * events), shown live and not again while the worker replays. Not journaled.
 * Your world must `import wasi:logging/logging@0.1.0-draft;`.
 */

import { log as wasiLog } from "wasi:logging/logging@0.1.0-draft";

export type Level = "trace" | "debug" | "info" | "warn" | "error" | "critical";

/** Logs `message` at `level`; `context` groups related lines (a module, a subsystem). */
export function log(level: Level, context: string, message: string): void {
  wasiLog(level, context, message);
}

export const trace = (context: string, message: string) => log("trace", context, message);
export const debug = (context: string, message: string) => log("debug", context, message);
export const info = (context: string, message: string) => log("info", context, message);
export const warn = (context: string, message: string) => log("warn", context, message);
export const error = (context: string, message: string) => log("error", context, message);
export const critical = (context: string, message: string) => log("critical", context, message);
