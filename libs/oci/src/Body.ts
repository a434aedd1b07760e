/**
 * Reading a response body whole without trusting its size: the bytes are collected until they
 * pass a bound, and the read fails there instead of buffering whatever a server chooses to send.
 */
import { Effect, Stream } from "effect"

export const collectBounded = <E, E2>(stream: Stream.Stream<Uint8Array, E>, max: number, tooLarge: () => E2): Effect.Effect<Uint8Array, E | E2> =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    let total = 0
    yield* Stream.runForEach(stream, (chunk) => {
      total += chunk.length
      if (total > max) return Effect.fail(tooLarge())
      chunks.push(chunk)
      return Effect.void
    })
    const bytes = new Uint8Array(total)
    let at = 0
    for (const chunk of chunks) {
      bytes.set(chunk, at)
      at += chunk.length
    }
    return bytes
  })
