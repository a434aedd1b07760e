import { describe, expect, it } from "vitest"
import { checkSource, isGoverned } from "../src/rules.ts"

const rulesOf = (source: string) => checkSource("x.ts", source).map((v) => v.rule)

describe("determinism lint", () => {
  it.each([
    ["const t = Date.now()", "no-wall-clock"],
    ["const t = globalThis.Date.now()", "no-wall-clock"],
    ["const d = new Date()", "no-wall-clock"],
    ["const s = Date()", "no-wall-clock"],
    ["const p = performance.now()", "no-wall-clock"],
    ["const h = process.hrtime.bigint()", "no-wall-clock"],
    ["setTimeout(() => {}, 10)", "no-timers"],
    ["setInterval(() => {}, 10)", "no-timers"],
    ["const r = Math.random()", "no-randomness"],
    ["const u = crypto.randomUUID()", "no-randomness"],
    ["import { randomBytes } from 'node:crypto'; randomBytes(4)", "no-randomness"],
    ["import * as fs from 'node:fs'", "no-platform-import"],
    ["import { spawn } from 'node:child_process'", "no-platform-import"],
    ["export { readFile } from 'node:fs/promises'", "no-platform-import"],
    ["const net = await import('node:net')", "no-platform-import"],
    ["const k = require('koffi')", "no-platform-import"],
    ["import { NodeServices } from '@effect/platform-node'", "no-platform-import"]
  ])("rejects %s", (source, rule) => {
    expect(rulesOf(source)).toEqual([rule])
  })

  it.each([
    "import { Clock, Effect } from 'effect'",
    "const d = new Date(1700000000000)",
    "import { createHash } from 'node:crypto'",
    "import * as zlib from 'node:zlib'",
    "const x = obj.setTimeout",
    "const later = scheduler.setTimeout(f)",
    "type T = typeof Date.now"
  ])("accepts %s", (source) => {
    expect(rulesOf(source)).toEqual([])
  })

  it("reports the line and column", () => {
    const [v] = checkSource("libs/x/src/a.ts", "const a = 1\n  const t = Date.now()\n")
    expect(v).toMatchObject({ file: "libs/x/src/a.ts", line: 2, column: 13, rule: "no-wall-clock" })
  })

  it("governs production code only", () => {
    expect(isGoverned("libs/update/src/Install.ts")).toBe(true)
    expect(isGoverned("apps/init/src/main.ts")).toBe(true)
    expect(isGoverned("libs/platform-node/src/NodePower.ts")).toBe(false)
    expect(isGoverned("libs/update/test/Install.test.ts")).toBe(false)
    expect(isGoverned("libs/update/src/Install.test.ts")).toBe(false)
    expect(isGoverned("images/src/build.ts")).toBe(false)
    expect(isGoverned("libs/update/README.md")).toBe(false)
  })
})
