/**
 * Content deltas between two images our SquashFS writer wrote: the delta rebuilds the new image
 * bit for bit from the old one (unchanged files by reference, a file under a renamed versioned
 * directory patched from its old self, new files carried whole, removed ones gone), is far
 * smaller than the image, and refuses what it cannot rebuild: another writer, a running image
 * without the base files, corrupt bytes (typed errors, never a defect).
 */
import { createHash } from "node:crypto"
import { deflateSync, zstdCompressSync } from "node:zlib"
import { Cause, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { Compressor, SquashfsReader } from "@keelos/squashfs"
import { imageOf, text } from "@keelos/squashfs/testing"
import { TreeDelta } from "../src/index.ts"
import { prng, random } from "./random.ts"

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")
const owned = { mode: 0o777, uid: 0, gid: 0, mtime: 1_700_000_000 }

const image = imageOf

const reader = (bytes: Uint8Array) => Effect.runSync(SquashfsReader.open(TreeDelta.memory(bytes)))

// Release 1: a "kernel" with modules under a versioned directory, an executable, a config.
const v1 = new Map<string, Uint8Array>([
  ["boot/vmlinuz", random(600_000, 1)],
  ["usr/lib/modules/6.1.0-55/kernel/virtio.ko", text(300_000, 2)],
  ["usr/lib/modules/6.1.0-55/kernel/squashfs.ko", text(200_000, 3)],
  ["usr/bin/node", text(2_000_000, 4)],
  ["usr/bin/runc", random(400_000, 5)],
  ["etc/old-only.conf", text(1000, 6)],
  ["etc/os-release", new TextEncoder().encode("VERSION_ID=0.1.0\n")]
])
// Release 2: node and the modules changed a little, the module directory renamed, runc unchanged,
// a file removed and one added, a symlink added.
const nudged = (bytes: Uint8Array, every: number) => {
  const copy = bytes.slice()
  for (let i = 0; i < copy.length; i += every) copy[i] = (copy[i]! + 1) & 0xff
  return copy
}
const v2 = new Map<string, Uint8Array>([
  ["boot/vmlinuz", random(600_000, 11)],
  ["usr/lib/modules/6.1.0-56/kernel/virtio.ko", nudged(v1.get("usr/lib/modules/6.1.0-55/kernel/virtio.ko")!, 5000)],
  ["usr/lib/modules/6.1.0-56/kernel/squashfs.ko", v1.get("usr/lib/modules/6.1.0-55/kernel/squashfs.ko")!],
  ["usr/bin/node", new Uint8Array(Buffer.concat([v1.get("usr/bin/node")!.subarray(0, 900_000), text(20_000, 12), nudged(v1.get("usr/bin/node")!.subarray(900_000), 1000)]))],
  ["usr/bin/runc", v1.get("usr/bin/runc")!],
  ["etc/new.conf", text(3000, 13)],
  ["etc/os-release", new TextEncoder().encode("VERSION_ID=0.2.0\n")]
])
const old = image(v1)
const next = image(v2, [{ ...owned, path: "etc/localtime", kind: "symlink", target: "/usr/share/zoneinfo/UTC" }])
const identity = { from: { sha256: sha(old), size: old.length }, to: { sha256: sha(next), size: next.length } }
const generated = Effect.runSync(TreeDelta.generate(TreeDelta.memory(old), TreeDelta.memory(next), identity, { level: 9 }))

const rebuild = (delta: Uint8Array, base: Uint8Array, compressor?: Compressor.Compressor) => {
  const out = new Uint8Array(next.length * 2)
  let length = 0
  return Effect.map(
    TreeDelta.apply(TreeDelta.memory(delta), reader(base), {
      write: (offset, chunk) =>
        Effect.sync(() => {
          if (offset + chunk.length > out.length) throw new Error("past the end")
          out.set(chunk, offset)
          length = Math.max(length, offset + chunk.length)
        })
    }, compressor ? { compressor } : {}),
    () => out.subarray(0, length)
  )
}

const failureOf = (exit: Exit.Exit<unknown, unknown>) => {
  if (Exit.isSuccess(exit)) return "rebuilt"
  expect(Cause.hasDies(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  const error = Cause.squash(exit.cause) as { readonly _tag: string; readonly reason?: string }
  return `${error._tag}:${error.reason}`
}

describe("TreeDelta", () => {
  it("rebuilds the new image bit for bit from the old one", () => {
    const rebuilt = Effect.runSync(rebuild(generated.delta, old))
    expect(sha(rebuilt)).toBe(identity.to.sha256)
    // runc and squashfs.ko by reference; node and virtio.ko (under the renamed directory) patched;
    // the kernel (random bytes), new.conf and the 17-byte os-release carried whole.
    expect(generated.stats).toMatchObject({ copied: 2, patched: 2, added: 3 })
    // Unchanged files compress to the same blocks, so the node copies those as stored.
    const { header } = Effect.runSync(TreeDelta.readHeader(TreeDelta.memory(generated.delta)))
    const raw = header.entries.flatMap((e) => e.kind === "file" && "copy" in e.content && e.content.raw === true ? [e.path] : [])
    expect(raw.sort()).toEqual(["usr/bin/runc", "usr/lib/modules/6.1.0-56/kernel/squashfs.ko"])
    // The changed bytes are a new 600 KB kernel (random, so carried whole) and small edits.
    expect(generated.delta.length).toBeLessThan(next.length / 2)
    expect(generated.delta.length).toBeLessThan(700_000)
  })

  it("rebuilds an image published padded (to a slot's size) with its padding", () => {
    const padded = new Uint8Array(next.length + 12_345)
    padded.set(next)
    const paddedIdentity = { from: identity.from, to: { sha256: sha(padded), size: padded.length } }
    const { delta } = Effect.runSync(TreeDelta.generate(TreeDelta.memory(old), TreeDelta.memory(padded), paddedIdentity, { level: 3 }))
    const out = new Uint8Array(padded.length).fill(0xee)
    Effect.runSync(TreeDelta.apply(TreeDelta.memory(delta), reader(old), { write: (offset, chunk) => Effect.sync(() => out.set(chunk, offset)) }))
    expect(sha(out)).toBe(sha(padded))
  })

  it("refuses a delta for another writer, and a running image without its base files", () => {
    const other: Compressor.Compressor = { ...Compressor.zlib, fingerprint: "zlib-0.0.0-9-15" }
    expect(failureOf(Effect.runSyncExit(rebuild(generated.delta, old, other)))).toBe("TreeDeltaError:Incompatible")
    const unrelated = image(new Map([["usr/bin/other", text(1000, 99)]]))
    expect(failureOf(Effect.runSyncExit(rebuild(generated.delta, unrelated)))).toBe("TreeDeltaError:BaseMismatch")
    expect(failureOf(Effect.runSyncExit(rebuild(new TextEncoder().encode("BSDIFF40 not ours"), old)))).toBe("TreeDeltaError:Malformed")
    // A delta in the format before sparse diff bytes (or a later one) is refused as such.
    const { header, payloadStart } = Effect.runSync(TreeDelta.readHeader(TreeDelta.memory(generated.delta)))
    const frame = zstdCompressSync(JSON.stringify({ ...header, format: 1 }))
    const length = new Uint8Array(4)
    new DataView(length.buffer).setUint32(0, frame.length, true)
    const older = new Uint8Array(Buffer.concat([TreeDelta.magic, length, frame, generated.delta.subarray(payloadStart)]))
    const exit = Effect.runSyncExit(rebuild(older, old))
    expect(failureOf(exit)).toBe("TreeDeltaError:Incompatible")
    expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ detail: "the delta is in format 1; this node reads format 2" })
  })

  it("refuses to prove a delta to an image another compressor wrote, naming the blocks that differ", () => {
    const level1: Compressor.Compressor = {
      ...Compressor.zlib,
      compress: (bytes) => deflateSync(bytes, { level: 1 }),
      compressAsync: (bytes) => Promise.resolve(deflateSync(bytes, { level: 1 }))
    }
    const foreign = image(v2, [], { compressor: level1 })
    const foreignIdentity = { from: identity.from, to: { sha256: sha(foreign), size: foreign.length } }
    const exit = Effect.runSyncExit(TreeDelta.generate(TreeDelta.memory(old), TreeDelta.memory(foreign), foreignIdentity, { level: 3, checkEvery: 2 }))
    expect(failureOf(exit)).toBe("TreeDeltaError:NotReproducible")
    expect(Exit.isFailure(exit) && (Cause.squash(exit.cause) as Error).message).toMatch(/[1-9][0-9]* of the [0-9]+ blocks compressed again differ from the image's/)
  })

  it("fails corrupt deltas with typed errors, or rebuilds an image the signed hash refuses", () => {
    const next = prng(17)
    const outcomes = new Map<string, number>()
    for (let round = 0; round < 120; round++) {
      const bad = generated.delta.slice()
      for (let i = 0; i < 1 + next() * 3; i++) bad[Math.floor(next() * bad.length)] = Math.floor(next() * 256)
      const exit = Effect.runSyncExit(rebuild(bad, old))
      const outcome = Exit.isSuccess(exit) ? (sha(exit.value) === identity.to.sha256 ? "identical" : "differs") : failureOf(exit)
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    }
    // A flipped byte inside the JSON's text can leave it valid (a mode, a time): that image
    // differs and verification refuses it. Everything else is a typed failure.
    for (const outcome of outcomes.keys()) expect(outcome).toMatch(/^(identical|differs|TreeDeltaError:\w+|KeeldiffError:\w+|SquashfsError:\w+)$/)
    expect([...outcomes.entries()].filter(([k]) => k.includes("Error")).reduce((sum, [, n]) => sum + n, 0)).toBeGreaterThan(80)
  })
})
