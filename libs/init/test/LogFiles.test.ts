import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path } from "effect"
import { TestClock } from "effect/testing"
import { PowerSupply, SimFileSystem, Trace } from "@keelos/platform-sim"
import { LogFiles } from "../src/index.ts"

const simFs = () => {
  const trace = new Trace()
  return Layer.mergeAll(new SimFileSystem(new PowerSupply(trace), trace).layer(), Path.layer)
}
const config = { dir: "/var/lib/keel/logs", maxBytes: 2_000, keep: 2, flushMillis: 1_000, bufferLines: 50 }
const line = (n: number) => ({ atMillis: n * 1000, stream: "stdout" as const, line: `line ${n} ${"x".repeat(60)}` })

describe("log files", () => {
  it.effect("rotates at the size cap, keeps `keep` old files, and drops the oldest", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* Effect.scoped(Effect.gen(function*() {
        const logs = yield* LogFiles.make(config)
        for (let n = 0; n < 120; n++) {
          yield* logs.append("containerd", line(n))
          if (n % 10 === 9) yield* TestClock.adjust(1_000)
        }
      }))
      const files = yield* fs.readDirectory("/var/lib/keel/logs")
      assert.deepStrictEqual(files, ["containerd.log", "containerd.log.1", "containerd.log.2"])
      for (const file of files) {
        const size = (yield* fs.readFile(`/var/lib/keel/logs/${file}`)).length
        assert.isAtMost(size, config.maxBytes)
      }
      const newest = yield* fs.readFileString("/var/lib/keel/logs/containerd.log")
      assert.include(newest, "line 119 ")
      assert.match(newest, /^1970-01-01T00:0\d:\d\d\.000Z stdout line \d+ x+$/m)
      const all = (yield* Effect.forEach(files, (f) => fs.readFileString(`/var/lib/keel/logs/${f}`))).join("")
      assert.notInclude(all, "line 0 ")
    }).pipe(Effect.provide(simFs())))

  it.effect("bounds the buffer and writes down what it dropped", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* Effect.scoped(Effect.gen(function*() {
        const logs = yield* LogFiles.make({ ...config, maxBytes: 1_000_000, bufferLines: 5 })
        for (let n = 0; n < 12; n++) yield* logs.append("kubelet", line(n))
      }))
      const text = yield* fs.readFileString("/var/lib/keel/logs/kubelet.log")
      assert.include(text, "[7 lines dropped")
      assert.strictEqual(text.split("\n").filter((l) => l.includes(" stdout line ")).length, 5)
    }).pipe(Effect.provide(simFs())))
})
