/** DiskSpace through statfs(2) (`fs.statfs`): blocks available to unprivileged writers times the block size. */
import * as fs from "node:fs"
import { Effect, Layer } from "effect"
import { DiskSpace } from "@keelos/platform"

export const layer: Layer.Layer<DiskSpace.DiskSpace> = Layer.succeed(DiskSpace.DiskSpace)({
  of: (path) =>
    Effect.tryPromise({
      try: () => fs.promises.statfs(path),
      catch: (error) => new DiskSpace.DiskSpaceError({ path, detail: error instanceof Error ? error.message : String(error) })
    }).pipe(Effect.map((stats) => ({ availableBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize })))
})
