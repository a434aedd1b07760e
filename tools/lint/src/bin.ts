#!/usr/bin/env node
/**
 * `keel-lint [dir...]`: checks every governed source under the given directories (default: the
 * current one) and exits 1 with one line per violation. Host tool, so it may use node:fs.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { checkSource, isGoverned } from "./rules.ts"

const findRoot = (start: string): string => {
  let dir = path.resolve(start)
  while (!fs.existsSync(path.join(dir, "nx.json"))) {
    const parent = path.dirname(dir)
    if (parent === dir) return path.resolve(start)
    dir = parent
  }
  return dir
}

const listFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) return []
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? listFiles(full) : [full]
  })

const targets = process.argv.slice(2)
const root = findRoot(targets[0] ?? ".")
let violations = 0
let checked = 0
for (const target of targets.length > 0 ? targets : ["."]) {
  for (const file of listFiles(path.resolve(target))) {
    const relative = path.relative(root, file)
    if (!isGoverned(relative)) continue
    checked++
    try {
      for (const v of checkSource(relative, fs.readFileSync(file, "utf8"))) {
        violations++
        console.error(`${v.file}:${v.line}:${v.column} ${v.rule}: ${v.message}`)
      }
    } catch (error) {
      violations++
      console.error(`${relative}: cannot parse: ${(error as Error).message}`)
    }
  }
}
if (violations > 0) {
  console.error(`keel-lint: ${violations} violation(s) in ${checked} file(s)`)
  process.exit(1)
}
console.log(`keel-lint: ${checked} file(s) clean`)
