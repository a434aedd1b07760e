#!/usr/bin/env node
/**
 * `keel-bundle ENTRY OUTFILE [--lazy node:tls,...] [--snapshot INSTALLED_PATH [--node-flags FLAGS]]`:
 * an ESM bundle for Node 24 with every dependency inlined except native bindings (koffi ships
 * beside the bundle in the image). Code reached only through a dynamic `import()` goes into chunks
 * in `NAME-chunks/` beside OUTFILE, loaded when that path runs (the X.509 code of first trust stays
 * out of every normal start). Deterministic: no timestamps, no absolute paths, content-hashed chunk names, so identical inputs give identical bytes (the
 * reproducible-image requirement). `--lazy` names built-ins loaded on first use rather than at start
 * (lazyBuiltins.ts): keel-init bundles code that can open TLS connections but on most nodes never does.
 * Named imports from Effect's indexes are bundled as imports of the modules themselves
 * (effectImports.ts), which lets esbuild drop what is not used: keel-init's start-up code went
 * from 1987 to 834 KiB, keel-agent's from 2083 to 1190, osctl's from 1733 to 819. `--snapshot`
 * makes OUTFILE a Node startup snapshot of the bundle (one CommonJS script, its modules evaluated;
 * startupSnapshot.ts) for a program installed at INSTALLED_PATH, built with the Node flags it runs
 * with (`--node-flags --lite-mode`). Under TCG keel-agent's start went from 4.8 to 2.7 s (modules 2.5 s
 * to 0.2 s; Node's own start 0.5 s to 0.9 s with the bigger heap to read), and stage 1 to keel-init's
 * first line from 3.7 to 2.45 s. Natively it gains nothing: osctl --help started slower from one than
 * as ESM with the compile cache (540 against 425 ms), so osctl stays ESM. A snapshot's own dynamic
 * imports become chunks too, in `NAME-snapshot-chunks/` (snapshotChunks.ts); the snapshot is made with
 * its bundle's bytecode compiled (startupSnapshot.ts).
 */
import * as fs from "node:fs"
import * as nodeModule from "node:module"
import * as path from "node:path"
import * as url from "node:url"
import * as esbuild from "esbuild"
import * as EffectImports from "./effectImports.ts"
import * as LazyBuiltins from "./lazyBuiltins.ts"
import * as SnapshotChunks from "./snapshotChunks.ts"
import * as StartupSnapshot from "./startupSnapshot.ts"

const usage = "usage: keel-bundle ENTRY OUTFILE [--lazy node:tls,node:https,...] [--snapshot INSTALLED_PATH [--node-flags --lite-mode,...]]"
const [entry, outfile, ...options] = process.argv.slice(2)
const flags = new Map<string, string>()
for (let i = 0; i < options.length; i += 2) {
  const [flag, value] = [options[i]!, options[i + 1]]
  if ((flag !== "--lazy" && flag !== "--snapshot" && flag !== "--node-flags") || value === undefined || flags.has(flag)) {
    console.error(usage)
    process.exit(2)
  }
  flags.set(flag, value)
}
if (entry === undefined || outfile === undefined) {
  console.error(usage)
  process.exit(2)
}
const lazy = flags.get("--lazy")?.split(",") ?? []
const unknown = lazy.filter((id) => !id.startsWith("node:") || !nodeModule.isBuiltin(id))
if (unknown.length > 0) {
  console.error(`keel-bundle: --lazy takes Node built-ins named node:NAME; not one: ${unknown.join(", ")}`)
  process.exit(2)
}
/** With --snapshot: OUTFILE is a startup snapshot, installed at this absolute path on the node. */
const installedAt = flags.get("--snapshot")
if (installedAt === undefined && flags.has("--node-flags")) {
  console.error("keel-bundle: --node-flags are the flags a startup snapshot (--snapshot) runs with")
  process.exit(2)
}
if (installedAt !== undefined && !path.isAbsolute(installedAt)) {
  console.error("keel-bundle: --snapshot takes the absolute path the snapshot is installed at on the node")
  process.exit(2)
}
const name = path.basename(outfile, path.extname(outfile))
const chunksDir = path.join(path.dirname(outfile), installedAt === undefined ? `${name}-chunks` : SnapshotChunks.directoryName(outfile))
fs.rmSync(chunksDir, { recursive: true, force: true })
const snapshotChunks = installedAt === undefined ? undefined : SnapshotChunks.make(installedAt)
const common = {
  entryPoints: [entry],
  bundle: true,
  platform: "node",
  target: "node24",
  external: ["koffi"],
  legalComments: "none",
  treeShaking: true,
  minifySyntax: true,
  metafile: true,
  logLevel: "warning",
  plugins: [...(snapshotChunks === undefined ? [] : [snapshotChunks.plugin]), ...(lazy.length > 0 ? [LazyBuiltins.plugin(lazy)] : []), EffectImports.plugin(entry)]
} satisfies esbuild.BuildOptions
const result = installedAt === undefined
  ? await esbuild.build({
    ...common,
    outdir: path.dirname(outfile),
    entryNames: name,
    chunkNames: `${name}-chunks/[name]-[hash]`,
    splitting: true,
    format: "esm",
    banner: { js: "import { createRequire as __keelCreateRequire } from \"node:module\"; const require = __keelCreateRequire(import.meta.url);" }
  })
  // A snapshot is built from one CommonJS script; its modules run at build time, so the place the
  // code will find its native modules from (import.meta.url) is where it is installed, not here.
  : await esbuild.build({
    ...common,
    write: false,
    outfile: path.join(path.dirname(outfile), `${name}.cjs`),
    format: "cjs",
    // The source is part of the heap a start reads: without its whitespace and comments the agent's
    // snapshot is 11.8 MiB instead of 14.2 and starts about 10% sooner (natively, 252 against 280 ms).
    minifyWhitespace: true,
    define: { "import.meta.url": JSON.stringify(url.pathToFileURL(installedAt).href) },
    // Node runs a snapshot's script with require but no module: an entry's exports go nowhere.
    banner: { js: "var module = { exports: {} };" }
  })
// A read of an export a lazy built-in leaves out (a constant) would be undefined at run time.
const missing = result.warnings.filter((warning) => warning.id === "import-is-undefined")
if (missing.length > 0) {
  console.error(`keel-bundle: ${missing.length} import(s) would be undefined at run time (see the warnings above)`)
  process.exit(1)
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
if (installedAt !== undefined) {
  // What the snapshot imports dynamically, each a CommonJS bundle of its own beside it.
  for (const [target, file] of snapshotChunks!.targets) {
    await esbuild.build({
      ...common,
      entryPoints: [target],
      plugins: [...(lazy.length > 0 ? [LazyBuiltins.plugin(lazy)] : []), EffectImports.plugin(target)],
      outfile: path.join(chunksDir, file),
      format: "cjs",
      minifyWhitespace: true,
      define: { "import.meta.url": JSON.stringify(url.pathToFileURL(path.join(path.dirname(installedAt), SnapshotChunks.directoryName(installedAt), file)).href) }
    })
  }
  try {
    StartupSnapshot.build(result.outputFiles![0]!.text, outfile, flags.get("--node-flags")?.split(",") ?? [])
  } catch (error) {
    console.error(`keel-bundle: ${outfile}: ${(error as Error).message}`)
    process.exit(1)
  }
  const chunks = snapshotChunks!.targets.size === 0 ? "" : `; ${snapshotChunks!.targets.size} chunk(s) in ${path.basename(chunksDir)}`
  console.log(`${outfile}: startup snapshot of ${(bytes / 1024).toFixed(0)} KiB of code, ${(fs.statSync(outfile).size / (1 << 20)).toFixed(1)} MiB${chunks}`)
} else {
  // What the bundle was made from, relative to it: a launcher (apps/cli/bin/osctl.js) runs the
  // bundle only while none of these is newer than it, and the sources otherwise. A package stands
  // for its files by its package.json, which an install rewrites with them (a few stats, not hundreds).
  const packageOf = (input: string) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]
  const inputs = [...new Set(Object.keys(result.metafile.inputs).filter((input) => !input.includes(":")).map((input) => {
    const pkg = packageOf(input)
    return path.relative(path.dirname(outfile), path.resolve(pkg === undefined ? input : `${pkg}/package.json`))
  }))].sort()
  fs.writeFileSync(path.join(path.dirname(outfile), `${name}.inputs.json`), JSON.stringify(inputs) + "\n")
  console.log(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB`)
}
