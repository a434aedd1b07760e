#!/usr/bin/env node
/**
 * `keel-bundle ENTRY OUTFILE [--lazy node:tls,...]`: an ESM bundle for Node 24 with every dependency
 * inlined except native bindings (koffi ships beside the bundle in the image). Code reached only
 * through a dynamic `import()` goes into chunks in `NAME-chunks/` beside OUTFILE, loaded when that
 * path runs (the X.509 code of first trust stays out of every normal start). Deterministic: no timestamps, no
 * absolute paths, content-hashed chunk names, so identical inputs give identical bytes (the
 * reproducible-image requirement). `--lazy` names built-ins loaded on first use rather than at start
 * (lazyBuiltins.ts): keel-init bundles code that can open TLS connections but on most nodes never does.
 * Named imports from Effect's indexes are bundled as imports of the modules themselves
 * (effectImports.ts), which lets esbuild drop what is not used: keel-init's start-up code went
 * from 1987 to 834 KiB, keel-agent's from 2083 to 1190, osctl's from 1733 to 819.
 */
import * as fs from "node:fs"
import * as nodeModule from "node:module"
import * as path from "node:path"
import * as esbuild from "esbuild"
import * as EffectImports from "./effectImports.ts"
import * as LazyBuiltins from "./lazyBuiltins.ts"

const [entry, outfile, ...options] = process.argv.slice(2)
const lazy = options[0] === "--lazy" && options[1] !== undefined ? options[1].split(",") : []
if (entry === undefined || outfile === undefined || (options.length > 0 && lazy.length === 0) || options.length > 2) {
  console.error("usage: keel-bundle ENTRY OUTFILE [--lazy node:tls,node:https,...]")
  process.exit(2)
}
const unknown = lazy.filter((id) => !id.startsWith("node:") || !nodeModule.isBuiltin(id))
if (unknown.length > 0) {
  console.error(`keel-bundle: --lazy takes Node built-ins named node:NAME; not one: ${unknown.join(", ")}`)
  process.exit(2)
}
const name = path.basename(outfile, ".js")
fs.rmSync(path.join(path.dirname(outfile), `${name}-chunks`), { recursive: true, force: true })
const result = await esbuild.build({
  entryPoints: [entry],
  outdir: path.dirname(outfile),
  entryNames: name,
  chunkNames: `${name}-chunks/[name]-[hash]`,
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  external: ["koffi"],
  legalComments: "none",
  treeShaking: true,
  minifySyntax: true,
  metafile: true,
  logLevel: "warning",
  plugins: [...(lazy.length > 0 ? [LazyBuiltins.plugin(lazy)] : []), EffectImports.plugin(entry)],
  banner: { js: "import { createRequire as __keelCreateRequire } from \"node:module\"; const require = __keelCreateRequire(import.meta.url);" }
})
// A read of an export a lazy built-in leaves out (a constant) would be undefined at run time.
const missing = result.warnings.filter((warning) => warning.id === "import-is-undefined")
if (missing.length > 0) {
  console.error(`keel-bundle: ${missing.length} import(s) would be undefined at run time (see the warnings above)`)
  process.exit(1)
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
console.log(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB`)
