/**
 * Writes a directory as a KeelOS slot image with KeelOS's own SquashFS writer (the one a node runs
 * to rebuild an image from a content delta), owned by root and stamped with one time, as
 * `mksquashfs -all-root -all-time` would:
 *
 *   node images/src/squashfs.ts --tree DIR --out FILE --time SOURCE_DATE_EPOCH
 *
 * The image build runs it as a child process (the build itself is synchronous).
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { SquashfsWriter } from "@keelos/squashfs"
import * as NodeDirectoryTree from "@keelos/platform-node/NodeDirectoryTree"

const { values } = parseArgs({ options: { tree: { type: "string" }, out: { type: "string" }, time: { type: "string" } } })
const time = Number(values.time)
if (values.tree === undefined || values.out === undefined || !Number.isSafeInteger(time) || time < 0) {
  console.error("usage: node images/src/squashfs.ts --tree DIR --out FILE --time SOURCE_DATE_EPOCH")
  process.exit(2)
}
const tree = values.tree
const out = values.out

const program = Effect.gen(function*() {
  const source = yield* NodeDirectoryTree.scan(tree, { allRoot: true, mtime: time })
  const sink = yield* NodeDirectoryTree.fileSink(out)
  const result = yield* Effect.ensuring(SquashfsWriter.write(source, sink, { mkfsTime: time, parallelBlocks: 4 }), sink.close)
  console.log(`squashfs: ${source.entries.length} entries, ${result.size} bytes (zlib, ${SquashfsWriter.defaultBlockSize / 1024} KiB blocks) in ${out}`)
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(`squashfs: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
})
