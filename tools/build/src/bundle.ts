#!/usr/bin/env node
/**
 * `keel-bundle ENTRY OUTFILE`: an ESM bundle for Node 24 with every dependency inlined except native
 * bindings (koffi ships beside the bundle in the image). Code reached only through a dynamic
 * `import()` goes into chunks in `NAME-chunks/` beside OUTFILE, loaded when that path runs (the
 * X.509 code of first trust stays out of every normal start). Deterministic: no timestamps, no
 * absolute paths, content-hashed chunk names, so identical inputs give identical bytes (the
 * reproducible-image requirement).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as esbuild from "esbuild"

const [entry, outfile] = process.argv.slice(2)
if (entry === undefined || outfile === undefined) {
  console.error("usage: keel-bundle ENTRY OUTFILE")
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
  banner: { js: "import { createRequire as __keelCreateRequire } from \"node:module\"; const require = __keelCreateRequire(import.meta.url);" }
})
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
console.log(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB`)
