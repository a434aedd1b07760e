/**
 * The `osctl` command's launcher (bin/osctl.js): the bundle while it is as new as every file it was
 * made from, the sources otherwise. Run on a copy of the launcher beside a stand-in bundle and
 * stand-in sources that each say which one ran.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"

const launcher = path.resolve(import.meta.dirname, "..", "bin", "osctl.js")

const made: Array<string> = []
afterEach(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const layout = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osctl-launcher-"))
  made.push(dir)
  for (const sub of ["bin", "dist", "src", "lib"]) fs.mkdirSync(path.join(dir, sub))
  fs.copyFileSync(launcher, path.join(dir, "bin", "osctl.js"))
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
  fs.writeFileSync(path.join(dir, "dist", "osctl.js"), "console.log(`bundle ${process.argv.slice(2).join(\" \")}`)\n")
  fs.writeFileSync(path.join(dir, "src", "main.ts"), "const from: string = \"sources\"\nconsole.log(`${from} ${process.argv.slice(2).join(\" \")}`)\n")
  fs.writeFileSync(path.join(dir, "lib", "input.ts"), "export {}\n")
  fs.writeFileSync(path.join(dir, "dist", "osctl.inputs.json"), JSON.stringify(["../src/main.ts", "../lib/input.ts"]))
  const at = (file: string, seconds: number) => fs.utimesSync(path.join(dir, file), seconds, seconds)
  at("src/main.ts", 1_000)
  at("lib/input.ts", 1_000)
  at("dist/osctl.js", 2_000)
  const run = () => spawnSync(process.execPath, [path.join(dir, "bin", "osctl.js"), "status", "-n", "node-1"], { encoding: "utf8" }).stdout.trim()
  return { dir, at, run }
}

describe("osctl launcher", () => {
  it("runs the bundle, with the arguments, while no input is newer than it", () => {
    const { run } = layout()
    expect(run()).toBe("bundle status -n node-1")
  })

  it("runs the sources when an input changed after the bundle was made", () => {
    const { at, run } = layout()
    at("lib/input.ts", 3_000)
    expect(run()).toBe("sources status -n node-1")
  })

  it("runs the sources when an input is gone, the list is missing, or there is no bundle", () => {
    const gone = layout()
    fs.rmSync(path.join(gone.dir, "lib", "input.ts"))
    expect(gone.run()).toBe("sources status -n node-1")
    const unlisted = layout()
    fs.rmSync(path.join(unlisted.dir, "dist", "osctl.inputs.json"))
    expect(unlisted.run()).toBe("sources status -n node-1")
    const unbuilt = layout()
    fs.rmSync(path.join(unbuilt.dir, "dist", "osctl.js"))
    expect(unbuilt.run()).toBe("sources status -n node-1")
  })
})
