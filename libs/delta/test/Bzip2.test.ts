/**
 * The bzip2 decoder against Debian's bzip2 1.0.8 as the encoder and the oracle: text, runs of every
 * length around the run-length stage's thresholds, random bytes, several blocks (level 1), empty
 * input and concatenated streams, fed in chunks of every awkward size; then corruption fuzzing.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { Bzip2Decoder, Bzip2Encoder, Bzip2Error } from "../src/index.ts"
import { prng, random } from "./random.ts"

const compress = (data: Uint8Array, level = 9) => new Uint8Array(execFileSync("bzip2", [`-${level}`, "-c"], { input: data, maxBuffer: 1 << 30 }))

/** Decodes `compressed` feeding `feedBytes` at a time and reading `readBytes` at a time. */
const decode = (compressed: Uint8Array, feedBytes: number, readBytes: number): Uint8Array => {
  const decoder = new Bzip2Decoder()
  const parts: Array<Uint8Array> = []
  let fed = 0
  for (let guard = 0; guard < 10_000_000; guard++) {
    const out = decoder.read(readBytes)
    if (out === null) break
    if (out.length > 0) {
      parts.push(out)
      continue
    }
    if (fed >= compressed.length) decoder.end()
    else {
      decoder.feed(compressed.subarray(fed, fed + feedBytes))
      fed += feedBytes
    }
  }
  return new Uint8Array(Buffer.concat(parts))
}

const runs = () => {
  const out: Array<number> = []
  for (let length = 1; length <= 300; length++) for (let i = 0; i < length; i++) out.push(length & 0xff)
  return Uint8Array.from(out)
}

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

describe("Bzip2Decoder", () => {
  const cases: ReadonlyArray<readonly [string, Uint8Array, number]> = [
    ["text", new TextEncoder().encode("KeelOS: an immutable, API-driven Linux for Kubernetes nodes.\n".repeat(2000)), 9],
    ["runs of 1 to 300 identical bytes", runs(), 9],
    ["one byte", Uint8Array.of(7), 9],
    ["a long run of zeros", new Uint8Array(1_000_000), 9],
    ["random bytes over three level-1 blocks", random(250_000, 7), 1],
    ["mixed, level 9", new Uint8Array(Buffer.concat([random(300_000, 9), runs(), new Uint8Array(50_000).fill(255)])), 9]
  ]
  for (const [name, data, level] of cases) {
    it(`decodes ${name} like bzip2, whatever the feed and read sizes`, () => {
      const compressed = compress(data, level)
      for (const [feed, read] of [[compressed.length, data.length + 1], [1, 4096], [4093, 1], [65536, 1 << 20]] as const) {
        expect(sha(decode(compressed, feed, read)), `feed ${feed}, read ${read}`).toBe(sha(data))
      }
    })
  }

  it("decodes an empty stream and concatenated streams", () => {
    expect(decode(compress(new Uint8Array(0)), 10, 100)).toEqual(new Uint8Array(0))
    const a = new TextEncoder().encode("first part ")
    const b = random(5000, 3)
    const both = new Uint8Array(Buffer.concat([compress(a), compress(b)]))
    expect(sha(decode(both, 100, 777))).toBe(sha(new Uint8Array(Buffer.concat([a, b]))))
  })

  it("refuses what is not bzip2, and a truncated stream", () => {
    expect(() => decode(new TextEncoder().encode("BSDIFF40 is not bzip2"), 100, 100)).toThrow(/not a bzip2 stream/)
    const compressed = compress(random(10_000, 5))
    expect(() => decode(compressed.subarray(0, compressed.length - 20), 100, 100)).toThrow(Bzip2Error)
  })

  it("fuzz: any flipped byte ends in the right output or a Bzip2Error, never a crash or a hang", () => {
    const data = new Uint8Array(Buffer.concat([new TextEncoder().encode("fuzz ".repeat(3000)), random(20_000, 11), runs()]))
    const compressed = compress(data)
    const next = prng(42)
    let refused = 0
    for (let round = 0; round < 300; round++) {
      const damaged = compressed.slice()
      const at = Math.floor(next() * damaged.length)
      damaged[at] = damaged[at]! ^ (1 + Math.floor(next() * 255))
      try {
        const out = decode(damaged, 1000, 65536)
        // A flip in padding bits can leave the data intact; it must then be the original.
        expect(sha(out)).toBe(sha(data))
      } catch (error) {
        expect(error).toBeInstanceOf(Bzip2Error)
        refused++
      }
    }
    expect(refused).toBeGreaterThan(250)
  })
})

describe("Bzip2Encoder", () => {
  const inputs: ReadonlyArray<readonly [string, Uint8Array]> = [
    ["text", new TextEncoder().encode("KeelOS keeps its slots apart. ".repeat(500))],
    ["runs of every length", runs()],
    ["random bytes", random(40_000, 21)],
    ["one byte", Uint8Array.of(42)],
    ["empty", new Uint8Array(0)],
    ["mostly zeros, like a diff stream", (() => {
      const zeros = new Uint8Array(200_000)
      for (let i = 0; i < zeros.length; i += 4099) zeros[i] = i & 0xff
      return zeros
    })()]
  ]
  for (const [name, data] of inputs) {
    it(`writes ${name} as bzip2 that Debian's bzip2 and our decoder read back`, () => {
      const compressed = Bzip2Encoder.compress(data)
      const debian = new Uint8Array(execFileSync("bzip2", ["-d", "-c"], { input: compressed, maxBuffer: 1 << 30 }))
      expect(sha(debian)).toBe(sha(data))
      expect(sha(decode(compressed, 4096, 65536))).toBe(sha(data))
    })
  }
})
