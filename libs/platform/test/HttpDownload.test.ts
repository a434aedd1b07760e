/**
 * HttpDownload over an HttpClient (the simulator's network): chunks that straddle the reader's
 * buffer come out whole and in order, and a body that breaks hands over what arrived first.
 */
import { describe, expect, it } from "vitest"
import { Effect, Exit, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { HttpDownload } from "../src/index.ts"

/** A client whose every response is `chunks`, then an error when `breaks`. */
const clientOf = (chunks: ReadonlyArray<Uint8Array>, breaks: boolean, seen: Array<Record<string, string>>) =>
  Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request) => {
    seen.push({ ...request.headers })
    let next = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (next < chunks.length) controller.enqueue(chunks[next++]!)
        else if (breaks) controller.error(new Error("connection reset by peer"))
        else controller.close()
      }
    })
    return Effect.succeed(HttpClientResponse.fromWeb(request, new Response(body, { status: 206, headers: { "content-range": "bytes 3-20/21" } })))
  }))

const readAll = (chunks: ReadonlyArray<Uint8Array>, breaks: boolean, bufferBytes: number) => {
  const seen: Array<Record<string, string>> = []
  const reads: Array<number> = []
  const bytes: Array<number> = []
  const run = Effect.scoped(Effect.gen(function*() {
    const download = yield* HttpDownload.HttpDownload
    const response = yield* download.get(new URL("http://updates.example/os.img"), { range: "bytes=3-" })
    expect(response.status).toBe(206)
    expect(response.headers["content-range"]).toBe("bytes 3-20/21")
    const buffer = new Uint8Array(bufferBytes)
    while (true) {
      const n = yield* response.read(buffer)
      reads.push(n)
      bytes.push(...buffer.subarray(0, n))
      if (n === 0) return
    }
  })).pipe(Effect.provide(HttpDownload.HttpDownload.layerFromHttpClient.pipe(Layer.provide(clientOf(chunks, breaks, seen)))))
  return Effect.runPromiseExit(run).then((exit) => ({ exit, seen, reads, bytes }))
}

const counting = (from: number, length: number) => Uint8Array.from({ length }, (_, i) => from + i)

describe("HttpDownload.layerFromHttpClient", () => {
  it("fills each buffer whole from chunks that straddle it, and reads 0 at the end", async () => {
    const { exit, seen, reads, bytes } = await readAll([counting(0, 5), counting(5, 1), counting(6, 12)], false, 4)
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(seen[0]).toMatchObject({ range: "bytes=3-" })
    expect(reads).toEqual([4, 4, 4, 4, 2, 0])
    expect(bytes).toEqual([...counting(0, 18)])
  })

  it("hands over the bytes before a break, then fails Closed", async () => {
    const { exit, reads, bytes } = await readAll([counting(0, 7)], true, 5)
    expect(reads).toEqual([5, 2])
    expect(bytes).toEqual([...counting(0, 7)])
    expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("Closed")
  })
})
