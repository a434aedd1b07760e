/**
 * Makes a content delta (KEELTD01) between two OS images written by KeelOS's SquashFS writer, and
 * proves it by rebuilding the new image from the old one before writing it:
 *
 *   node images/src/tree-delta.ts --from OLD/os.img --to NEW/os.img --out FILE [--level 19] [--check-every 8]
 *
 * `--level` is the zstd level of the new content; `--check-every N` compresses one block in N of the
 * proof's rebuild again (1: every block, as a node does). Prints one JSON line: the delta's size,
 * what it carries and what the proof compressed. Run as a child process by the
 * release tools (they are synchronous) and by the delta benchmark.
 */
import * as fs from "node:fs"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { TreeDelta } from "@keelos/delta"
import * as NodeDirectoryTree from "@keelos/platform-node/NodeDirectoryTree"
import { sha256File } from "./sha256.ts"

const { values } = parseArgs({ options: { from: { type: "string" }, to: { type: "string" }, out: { type: "string" }, level: { type: "string", default: "19" }, "check-every": { type: "string", default: "8" } } })
const level = Number(values.level)
const checkEvery = Number(values["check-every"])
if (values.from === undefined || values.to === undefined || values.out === undefined || !Number.isInteger(level) || level < 1 || level > 22 || !Number.isInteger(checkEvery) || checkEvery < 1) {
  console.error("usage: node images/src/tree-delta.ts --from OLD.img --to NEW.img --out FILE [--level 1-22] [--check-every N]")
  process.exit(2)
}
const from = values.from
const to = values.to
const out = values.out

const program = Effect.gen(function*() {
  const oldFile = yield* NodeDirectoryTree.fileSource(from)
  const newFile = yield* NodeDirectoryTree.fileSource(to)
  const identity = { from: { sha256: sha256File(from), size: oldFile.size }, to: { sha256: sha256File(to), size: newFile.size } }
  const { delta, stats, proof } = yield* TreeDelta.generate(oldFile, newFile, identity, { level, checkEvery, parallelBlocks: 4 })
  fs.writeFileSync(out, delta)
  console.log(JSON.stringify({ delta: out, bytes: delta.length, ...stats, proof }))
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(`tree-delta: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
