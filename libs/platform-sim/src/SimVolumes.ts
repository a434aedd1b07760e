/** Simulated volumes: device nodes and their first bytes, as a test attaches them. */
import { Effect, Layer, Option } from "effect"
import { Volumes } from "@keelos/platform"

export const layer = (volumes: Readonly<Record<string, Uint8Array>>): Layer.Layer<Volumes.Volumes> =>
  Layer.succeed(Volumes.Volumes)({
    find: (headBytes, accept) =>
      Effect.sync(() => {
        for (const [path, bytes] of Object.entries(volumes).sort(([a], [b]) => a.localeCompare(b))) {
          if (accept(bytes.subarray(0, headBytes))) return Option.some(path)
        }
        return Option.none()
      })
  })
