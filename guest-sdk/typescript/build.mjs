#!/usr/bin/env node
// Builds a TypeScript (or JavaScript) workflow or activity module into a Cairn component.
//
//     node guest-sdk/typescript/build.mjs examples/chain/typescript/chain.ts -o target/typescript/chain.wasm
//
// The module is type-checked (tsc, strict), bundled with the SDK (esbuild)
// behind a generated entry that exports the `workflow` world (or the
// `activity` world, when it imports "@cairn/sdk/activity"), and
// componentized (componentize-js) with the flags that keep a workflow
// deterministic: no wasi:http and no fetch-event, so `Date.now()` reads the
// journaled clock and `Math.random()` is seeded per execution. The pinned
// toolchain (guest-sdk/typescript/toolchain) is installed on first use into
// target/toolchains/typescript. Nothing is rebuilt when the output is newer
// than every input.
//
//     node guest-sdk/typescript/build.mjs --types target/typescript/types
//
// writes the SDK's declarations (index.d.ts, activity.d.ts and the modules
// they name, with host.d.ts) for editors and JavaScript users.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SDK = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(SDK, "..", "..");
const TOOLCHAIN = path.join(ROOT, "target", "toolchains", "typescript");
const MODULES = path.join(TOOLCHAIN, "node_modules");

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { app: undefined, output: undefined, world: undefined, check: true, types: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--types") args.types = argv[++i];
    else if (a === "-o" || a === "--output") args.output = argv[++i];
    else if (a === "--world") args.world = argv[++i];
    else if (a === "--no-check") args.check = false;
    else if (a === "-h" || a === "--help") {
      console.log("usage: build.mjs APP.ts -o OUT.wasm [--world workflow|activity] [--no-check]\n       build.mjs --types DIR");
      process.exit(0);
    } else if (args.app === undefined) args.app = a;
    else fail(`unexpected argument ${a}`);
  }
  if (args.types !== undefined) return args;
  if (args.app === undefined || args.output === undefined) fail("usage: build.mjs APP.ts -o OUT.wasm");
  if (args.world !== undefined && !["workflow", "activity"].includes(args.world)) {
    fail(`--world is workflow or activity, not ${args.world}`);
  }
  return args;
}

/** Installs the pinned toolchain when it is missing or its lock file changed. */
function toolchain() {
  const lock = fs.readFileSync(path.join(SDK, "toolchain", "package-lock.json"));
  // npm rewrites the lock it installs from: the stamp keeps the one it was given.
  const stamp = path.join(TOOLCHAIN, "installed-from.lock.json");
  const ready = fs.existsSync(path.join(MODULES, ".bin", "componentize-js"));
  if (!ready || !fs.existsSync(stamp) || !fs.readFileSync(stamp).equals(lock)) {
    console.error(`build.mjs: installing the TypeScript toolchain into ${path.relative(process.cwd(), TOOLCHAIN)}`);
    fs.mkdirSync(TOOLCHAIN, { recursive: true });
    fs.copyFileSync(path.join(SDK, "toolchain", "package.json"), path.join(TOOLCHAIN, "package.json"));
    fs.writeFileSync(path.join(TOOLCHAIN, "package-lock.json"), lock);
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], {
      cwd: TOOLCHAIN,
      stdio: ["ignore", "ignore", "inherit"],
    });
    fs.writeFileSync(stamp, lock);
  }
  // The SDK resolves as "@cairn/sdk" from the toolchain's node_modules.
  const link = path.join(MODULES, "@cairn", "sdk");
  if (!fs.existsSync(link)) {
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(SDK, link, "dir");
  }
}

function* walk(dir, exts) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== "node_modules") yield* walk(p, exts);
    else if (e.isFile() && exts.some((x) => e.name.endsWith(x))) yield p;
  }
}

function upToDate(app, out) {
  if (!fs.existsSync(out)) return false;
  const built = fs.statSync(out).mtimeMs;
  const inputs = [
    ...walk(path.dirname(app), [".ts", ".js", ".mts", ".mjs"]),
    ...walk(path.join(SDK, "src"), [".ts"]),
    ...walk(path.join(ROOT, "wit"), [".wit"]),
    fileURLToPath(import.meta.url),
  ];
  return inputs.every((p) => fs.statSync(p).mtimeMs <= built);
}

/** The compiler options every tsc run here shares (strict, ES2022 modules, .ts imports). */
const STRICT = {
  strict: true,
  target: "es2022",
  module: "esnext",
  moduleResolution: "bundler",
  allowImportingTsExtensions: true,
  skipLibCheck: true,
  lib: ["es2022", "dom"],
  types: [],
};

/** Strict type-check of the module against the SDK's types. */
function typecheck(app, dir) {
  const config = {
    compilerOptions: {
      ...STRICT,
      noEmit: true,
      paths: {
        "@cairn/sdk": [path.join(SDK, "src", "index.ts")],
        "@cairn/sdk/activity": [path.join(SDK, "src", "activity.ts")],
      },
    },
    files: [app, path.join(SDK, "src", "host.d.ts")],
  };
  tsc(
    path.join(dir, "tsconfig.json"),
    config,
    `${path.basename(app)} does not type-check (the errors above); --no-check skips the check`,
  );
}

/** Runs tsc on `config` (written to `tsconfig`); fails with `why` and tsc's errors. */
function tsc(tsconfig, config, why) {
  fs.writeFileSync(tsconfig, JSON.stringify(config, null, 2));
  try {
    execFileSync(path.join(MODULES, ".bin", "tsc"), ["-p", tsconfig, "--pretty", "false"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    process.stderr.write(e.stdout?.toString() ?? "");
    fail(why);
  }
}

/** Emits the SDK's declarations into `dir` (strict, from the sources). */
function declarations(dir) {
  toolchain();
  const out = path.resolve(dir);
  fs.mkdirSync(out, { recursive: true });
  const config = {
    compilerOptions: {
      ...STRICT,
      declaration: true,
      emitDeclarationOnly: true,
      rootDir: path.join(SDK, "src"),
      outDir: out,
    },
    files: [path.join(SDK, "src", "index.ts"), path.join(SDK, "src", "activity.ts"), path.join(SDK, "src", "host.d.ts")],
  };
  const tsconfig = path.join(out, "tsconfig.sdk.json");
  tsc(tsconfig, config, "the SDK's declarations could not be emitted (the errors above)");
  fs.rmSync(tsconfig);
  fs.copyFileSync(path.join(SDK, "src", "host.d.ts"), path.join(out, "host.d.ts"));
  console.error(`build.mjs: SDK declarations -> ${path.relative(process.cwd(), out)}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.types !== undefined) return declarations(args.types);
  const app = path.resolve(args.app);
  const out = path.resolve(args.output);
  if (!fs.existsSync(app)) fail(`${args.app} does not exist`);
  if (upToDate(app, out)) return;
  toolchain();
  const source = fs.readFileSync(app, "utf8");
  const world = args.world ?? (source.includes("@cairn/sdk/activity") ? "activity" : "workflow");
  const stem = path.basename(app).replace(/\.[^.]+$/, "");
  const dir = path.join(ROOT, "target", "typescript", "entries", stem);
  fs.mkdirSync(dir, { recursive: true });
  if (args.check && /\.m?ts$/.test(app)) typecheck(app, dir);

  const entry = path.join(dir, "entry.js");
  const exports =
    world === "workflow"
      ? 'export { run } from "@cairn/sdk";'
      : 'export { activities, invoke } from "@cairn/sdk/activity";';
  fs.writeFileSync(entry, `import ${JSON.stringify(app)};\n${exports}\n`);
  const bundle = path.join(dir, "bundle.js");
  const esbuild = await import(pathToFileURL(path.join(MODULES, "esbuild", "lib", "main.js")).href);
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["cairn:*"],
    nodePaths: [MODULES],
    outfile: bundle,
    logLevel: "error",
  });

  // Workflows: no wasi:http (refused by the host) and no fetch-event export;
  // clocks and random stay, routed by the host to the journaled ones.
  const disable = world === "workflow" ? ["http", "fetch-event"] : ["fetch-event"];
  fs.mkdirSync(path.dirname(out), { recursive: true });
  console.error(`build.mjs: ${path.basename(app)} -> ${path.relative(process.cwd(), out)} (${world})`);
  execFileSync(
    path.join(MODULES, ".bin", "componentize-js"),
    [bundle, "--wit", path.join(ROOT, "wit"), "--world-name", world, "-d", ...disable, "-o", out],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}

main().catch((e) => fail(e?.message ?? String(e)));
