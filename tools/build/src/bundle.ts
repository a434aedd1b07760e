#!/usr/bin/env node
/**
 * `keel-bundle ENTRY OUTFILE`: one ESM file for Node 24 with every dependency inlined except native
 * bindings (koffi ships beside the bundle in the image). Deterministic: no timestamps, no absolute
 * paths, so identical inputs give identical bytes (the reproducible-image requirement).
 */
import * as esbuild from "esbuild"

const [entry, outfile] = process.argv.slice(2)
if (entry === undefined || outfile === undefined) {
  console.error("usage: keel-bundle ENTRY OUTFILE")
  process.exit(2)
}
const result = await esbuild.build({
  entryPoints: [entry],
  outfile,
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
