/**
 * The GRUB environment block as a file on the mounted ESP. Rewritten the way GRUB's save_env does:
 * opened read-write, one 1024-byte write at offset 0, fsync; never truncated, never replaced, so
 * the file keeps its blocks and GRUB's block list stays valid (boot.md G11).
 */
import * as fs from "node:fs/promises"
import { Effect, Layer } from "effect"
import { BootEnvBlock } from "@keelos/platform"

const blockSize = 1024

const reasonOf = (error: unknown): "NotFound" | "Io" =>
  (error as NodeJS.ErrnoException).code === "ENOENT" ? "NotFound" : "Io"

export const make = (path: string): BootEnvBlock.BootEnvBlock["Service"] => ({
  read: Effect.tryPromise({
    try: () => fs.readFile(path),
    catch: (error) => new BootEnvBlock.BootEnvBlockError({ operation: "read", reason: reasonOf(error), detail: `${path}: ${String(error)}` })
  }).pipe(
    Effect.flatMap((bytes) =>
      bytes.length === blockSize
        ? Effect.succeed(new Uint8Array(bytes))
        : Effect.fail(new BootEnvBlock.BootEnvBlockError({ operation: "read", reason: "WrongSize", detail: `${path} is ${bytes.length} bytes, not ${blockSize}` }))
    )
  ),
  write: (block) =>
    block.length !== blockSize
      ? Effect.fail(new BootEnvBlock.BootEnvBlockError({ operation: "write", reason: "WrongSize", detail: `${block.length} bytes, not ${blockSize}` }))
      : Effect.tryPromise({
        try: async () => {
          const handle = await fs.open(path, "r+")
          try {
            const { size } = await handle.stat()
            if (size !== blockSize) throw Object.assign(new Error(`${path} is ${size} bytes, not ${blockSize}`), { code: "EWRONGSIZE" })
            let written = 0
            while (written < blockSize) {
              const { bytesWritten } = await handle.write(block, written, blockSize - written, written)
              written += bytesWritten
            }
            await handle.sync()
          } finally {
            await handle.close()
          }
        },
        catch: (error) =>
          new BootEnvBlock.BootEnvBlockError({
            operation: "write",
            reason: (error as NodeJS.ErrnoException).code === "EWRONGSIZE" ? "WrongSize" : reasonOf(error),
            detail: `${path}: ${(error as Error).message}`
          })
      })
})

export const layer = (path: string): Layer.Layer<BootEnvBlock.BootEnvBlock> => Layer.succeed(BootEnvBlock.BootEnvBlock)(make(path))
