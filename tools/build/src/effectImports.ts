/**
 * An esbuild plugin that imports Effect's modules by their own paths: `import { Effect, Schema } from
 * "effect"` is bundled as `import * as Effect from "effect/Effect"; import * as Schema from
 * "effect/Schema"`, and likewise for the indexes of `effect/http`, `effect/rpc` and the rest. esbuild
 * cannot tree-shake a namespace that reaches a module through an index's `export * as`: it builds the
 * whole namespace object, and with it everything the module refers to. Measured: a program that
 * prints `Schema.String` bundles 651 KB through the index and 152 KB through the module. Sources
 * keep the short form; only the bundle changes.
 */
import * as fs from "node:fs"
import * as module from "node:module"
import * as path from "node:path"
import type * as esbuild from "esbuild"

/** For one index (`effect`, `effect/http`, ...): each export name and where it really lives. */
type Index = ReadonlyMap<string, { readonly module: string; readonly namespace: boolean }>

/** Reads an index's `export * as X from "./X.js"` and `export { a, b } from "./Function.js"` lines. */
const readIndex = (specifier: string, file: string): Index => {
  const source = fs.readFileSync(file, "utf8")
  const exports = new Map<string, { module: string; namespace: boolean }>()
  for (const match of source.matchAll(/export \* as (\w+) from "\.\/([\w/-]+)\.js"/g)) {
    exports.set(match[1]!, { module: `${specifier}/${match[2]!}`, namespace: true })
  }
  for (const match of source.matchAll(/export\s*\{([^}]*)\}\s*from\s*"\.\/([\w/-]+)\.js"/g)) {
    for (const name of match[1]!.split(",").map((n) => n.trim()).filter((n) => /^\w+$/.test(n))) {
      exports.set(name, { module: `${specifier}/${match[2]!}`, namespace: false })
    }
  }
  return exports
}

const importPattern = /import\s+\{([^}]*)\}\s*from\s*"(effect(?:\/[a-z-]+)?)";?/g

/** The source with its named imports from Effect's indexes rewritten; undefined when there are none. */
export const rewrite = (source: string, indexOf: (specifier: string) => Index | undefined): string | undefined => {
  let changed = false
  const result = source.replace(importPattern, (whole, list: string, specifier: string) => {
    const index = indexOf(specifier)
    if (index === undefined) return whole
    const lines: Array<string> = []
    const rest: Array<string> = []
    const named = new Map<string, Array<string>>()
    for (const raw of list.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
      const parts = /^(type\s+)?(\w+)(?:\s+as\s+(\w+))?$/.exec(raw)
      const target = parts === null ? undefined : index.get(parts[2]!)
      if (parts === null || target === undefined) {
        rest.push(raw)
        continue
      }
      const local = parts[3] ?? parts[2]!
      if (target.namespace) lines.push(`import ${parts[1] === undefined ? "" : "type "}* as ${local} from "${target.module}"`)
      else named.set(target.module, [...(named.get(target.module) ?? []), raw])
    }
    for (const [from, names] of named) lines.push(`import { ${names.join(", ")} } from "${from}"`)
    if (rest.length > 0) lines.push(`import { ${rest.join(", ")} } from "${specifier}"`)
    changed = true
    // One line, so the rest of the file keeps its line numbers.
    return lines.join("; ")
  })
  return changed ? result : undefined
}

/** The plugin; Effect is resolved from `resolveFrom` (the bundle's entry). */
export const plugin = (resolveFrom: string): esbuild.Plugin => ({
  name: "keel-effect-imports",
  setup(build) {
    const require = module.createRequire(path.resolve(resolveFrom))
    const indexes = new Map<string, Index | undefined>()
    const indexOf = (specifier: string): Index | undefined => {
      if (!indexes.has(specifier)) {
        let file: string | undefined
        try {
          file = require.resolve(specifier)
        } catch {
          file = undefined
        }
        indexes.set(specifier, file === undefined || path.basename(file) !== "index.js" ? undefined : readIndex(specifier, file))
      }
      return indexes.get(specifier)
    }
    build.onLoad({ filter: /\.(ts|js|mjs)$/ }, (args) => {
      if (args.namespace !== "file") return undefined
      const source = fs.readFileSync(args.path, "utf8")
      if (!source.includes("from \"effect")) return undefined
      const contents = rewrite(source, indexOf)
      if (contents === undefined) return undefined
      return { contents, loader: args.path.endsWith(".ts") ? "ts" : "js", resolveDir: path.dirname(args.path) }
    })
  }
})
