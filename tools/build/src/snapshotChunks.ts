/**
 * An esbuild plugin for startup snapshots: a module the program's own code reaches only through a
 * dynamic `import()` stays out of the snapshot. A snapshot is built from one script, so without this
 * such a module (keel-agent's X.509 code of first trust, a third of its bundle) would be in every
 * start's heap, compiled, though a provisioned node never runs it. Each target becomes a chunk of its
 * own, a CommonJS bundle written to `NAME-snapshot-chunks/` beside the snapshot (apart from the
 * chunks of the same program's ESM bundle) and required from where the snapshot is installed when
 * the import runs. A chunk carries its own copy of what it imports (a second Effect, say): what
 * crosses between it and the snapshot should be plain data and promises.
 */
import * as path from "node:path"
import type * as esbuild from "esbuild"

const namespace = "keel-snapshot-chunk"

export interface Chunks {
  readonly plugin: esbuild.Plugin
  /** The modules dynamically imported, by absolute path, and their chunk's file name. */
  readonly targets: ReadonlyMap<string, string>
}

/** Where a snapshot's chunks are, beside it: keel-agent.blob's in keel-agent-snapshot-chunks. */
export const directoryName = (snapshot: string) => `${path.basename(snapshot, path.extname(snapshot))}-snapshot-chunks`

/** `installedAt`: the snapshot's absolute path on the node; its chunks go in `directoryName(installedAt)` beside it. */
export const make = (installedAt: string): Chunks => {
  const targets = new Map<string, string>()
  const plugin: esbuild.Plugin = {
    name: "keel-snapshot-chunks",
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        // Only the program's own: a library's dynamic imports stay in the snapshot, as they expect.
        if (args.kind !== "dynamic-import" || args.namespace === namespace || args.importer.includes("/node_modules/")) return undefined
        const resolved = await build.resolve(args.path, { resolveDir: args.resolveDir, kind: "import-statement", importer: args.importer })
        if (resolved.errors.length > 0) return { errors: resolved.errors }
        if (resolved.external) return undefined
        const file = `${path.basename(resolved.path, path.extname(resolved.path))}.cjs`
        const taken = [...targets.entries()].find(([source, chunk]) => chunk === file && source !== resolved.path)
        if (taken !== undefined) return { errors: [{ text: `two dynamic imports would share the chunk ${file}: ${taken[0]} and ${resolved.path}` }] }
        targets.set(resolved.path, file)
        return { path: resolved.path, namespace }
      })
      build.onLoad({ filter: /.*/, namespace }, (args) => ({
        contents: `module.exports = require("node:module").createRequire(${JSON.stringify(installedAt)})(${JSON.stringify(`./${directoryName(installedAt)}/${targets.get(args.path)!}`)})\n`,
        loader: "js"
      }))
    }
  }
  return { plugin, targets }
}
