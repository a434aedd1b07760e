/**
 * keel-bundle imports Effect's modules by their own paths: the rewrite of a named import from an
 * index, and a real bundle that keeps only what the program uses and still runs.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as EffectImports from "../src/effectImports.ts"

const bundleTool = path.join(import.meta.dirname, "..", "src", "bundle.ts")
// The entry resolves the installed effect package through a link to the repository's node_modules.
const work = fs.mkdtempSync(path.join(os.tmpdir(), "keel-effect-imports-"))
fs.symlinkSync(path.join(import.meta.dirname, "..", "..", "..", "node_modules"), path.join(work, "node_modules"))
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

const index = new Map([
  ["Effect", { module: "effect/Effect", namespace: true }],
  ["Context", { module: "effect/Context", namespace: true }],
  ["Schema", { module: "effect/Schema", namespace: true }],
  ["pipe", { module: "effect/Function", namespace: false }],
  ["flow", { module: "effect/Function", namespace: false }]
])
const http = new Map([["HttpServer", { module: "effect/http/HttpServer", namespace: true }]])
const indexOf = (specifier: string) => (specifier === "effect" ? index : specifier === "effect/http" ? http : undefined)

describe("the rewrite", () => {
  it("turns each namespace into a module import, keeps types as types, aliases and plain exports, on one line", () => {
    const source = [
      "import * as fs from \"node:fs\"",
      "import { type Context, Effect, pipe, flow as f,",
      "  Schema as S, Unknown } from \"effect\"",
      "import { HttpServer } from \"effect/http\"",
      "import { Something } from \"effect/unknown\"",
      "const x = 1"
    ].join("\n")
    expect(EffectImports.rewrite(source, indexOf)).toBe([
      "import * as fs from \"node:fs\"",
      "import type * as Context from \"effect/Context\"; import * as Effect from \"effect/Effect\"; import * as S from \"effect/Schema\"; " +
      "import { pipe, flow as f } from \"effect/Function\"; import { Unknown } from \"effect\"",
      "import * as HttpServer from \"effect/http/HttpServer\"",
      "import { Something } from \"effect/unknown\"",
      "const x = 1"
    ].join("\n"))
  })

  it("leaves a file without a named import from Effect's indexes alone", () => {
    expect(EffectImports.rewrite("import * as Effect from \"effect/Effect\"\nimport type { Schema } from \"effect\"\n", indexOf)).toBeUndefined()
  })
})

describe("keel-bundle", () => {
  it("bundles only the parts of Effect a program uses, and the program runs", () => {
    const entry = path.join(work, "schema.ts")
    fs.writeFileSync(entry, [
      "import { Effect, Schema } from \"effect\"",
      "const decode = Schema.decodeUnknownEffect(Schema.Struct({ port: Schema.Number }))",
      "console.log(JSON.stringify(Effect.runSync(decode({ port: 50051 }))))"
    ].join("\n"))
    const outfile = path.join(work, "schema.js")
    const result = spawnSync(process.execPath, [bundleTool, entry, outfile], { encoding: "utf8" })
    expect(result.stderr).toBe("")
    expect(result.status).toBe(0)
    expect(JSON.parse(execFileSync(process.execPath, [outfile], { encoding: "utf8" }))).toEqual({ port: 50051 })
    const bundled = fs.readFileSync(outfile, "utf8")
    // Through the index, esbuild builds namespace objects (Schema_exports, ...) holding every export
    // of the module, and the bundle is about 650 KB.
    expect(bundled).not.toMatch(/\b\w+_exports\b/)
    expect(bundled.length).toBeLessThan(400 * 1024)
  })
})
