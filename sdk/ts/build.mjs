#!/usr/bin/env node
// Builds a TypeScript (or JavaScript) guest into a WebAssembly component:
//   node sdk/ts/build.mjs --wit <dir> --world <name> --entry <file.ts> --out <file.wasm>
// esbuild strips the types and bundles the entry with this SDK (`revenant`,
// `revenant/http`), leaving every WIT import (`ns:pkg/iface`) external; then
// componentize-js's `componentize()` API (its `jco componentize` CLI fails on a
// path check) embeds the bundle in StarlingMonkey. The tools are the pinned ones
// scripts/bootstrap installs into .tools/node (or $REVENANT_NODE_TOOLS).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tools = resolve(process.env.REVENANT_NODE_TOOLS ?? join(here, "..", "..", ".tools", "node"));

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(2);
}

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i];
  if (!key.startsWith("--") || i + 1 >= process.argv.length) {
    fail(`expected --wit <dir> --world <name> --entry <file> --out <file>, got ${process.argv.slice(2).join(" ")}`);
  }
  args[key.slice(2)] = process.argv[i + 1];
}
for (const k of ["wit", "world", "entry", "out"]) if (!args[k]) fail(`missing --${k}`);

async function tool(path) {
  try {
    return await import(pathToFileURL(join(tools, "node_modules", path)).href);
  } catch (e) {
    fail(`cannot load ${path} from ${tools} (${e.message}); run scripts/bootstrap`);
  }
}
const esbuild = await tool("esbuild/lib/main.js");
const { componentize } = await tool("@bytecodealliance/componentize-js/src/componentize.js");

const work = await mkdtemp(join(tmpdir(), "revenant-ts-"));
try {
  const bundle = join(work, "guest.js");
  await esbuild.build({
    entryPoints: [resolve(args.entry)],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    outfile: bundle,
    logLevel: "warning",
    alias: { revenant: join(here, "src") },
    plugins: [
      {
        name: "wit-imports",
        setup(b) {
          b.onResolve({ filter: /^[a-z][a-z0-9-]*:[a-z]/ }, (a) => ({ path: a.path, external: true }));
        },
      },
    ],
  });
  const { component } = await componentize({
    sourcePath: bundle,
    witPath: resolve(args.wit),
    worldName: args.world,
    // No fetch-event (an incoming-handler export the workers do not have).
    disableFeatures: ["fetch-event"],
  });
  await writeFile(args.out, component);
} finally {
  await rm(work, { recursive: true, force: true });
}
