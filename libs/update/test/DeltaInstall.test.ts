/**
 * Delta installs through the engine: a patch made by Debian's bsdiff from the image in the active
 * slot produces the new image without downloading it; a corrupt patch, a base that is not what the
 * patch was made from, or a patch that produces the wrong image all fall back to the full image,
 * recorded in the state and the history, and the slot is only ever verified against the signed hash.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, FileSystem, Stream } from "effect"
import { TreeDelta } from "@keelos/delta"
import { imageOf, text } from "@keelos/squashfs/testing"
import { UpdateEngine } from "../src/index.ts"
import { channelFiles, channelUrl, engineOn, image, machine, serve, sha256 } from "./helpers.ts"

const v1 = image(31, 300_000)
/** 0.2.0: 0.1.0 with a few spans changed and a tail added. */
const v2 = (() => {
  const out = new Uint8Array(340_000)
  out.set(v1)
  for (let i = 0; i < v1.length; i += 9_973) out[i] = out[i]! ^ 0x5a
  out.set(image(32, 40_000), 300_000)
  return out
})()

const bsdiff = (from: Uint8Array, to: Uint8Array) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-delta-"))
  try {
    fs.writeFileSync(path.join(dir, "old"), from)
    fs.writeFileSync(path.join(dir, "new"), to)
    execFileSync("bsdiff", [path.join(dir, "old"), path.join(dir, "new"), path.join(dir, "patch")])
    return new Uint8Array(fs.readFileSync(path.join(dir, "patch")))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const patch = bsdiff(v1, v2)

/** The 0.2.0 channel with a delta from 0.1.0 (`served` may differ from what the metadata signs). */
const channelWithDelta = (served: Uint8Array, signed: Uint8Array = served, base: Uint8Array = v1) => [
  ...channelFiles({
    version: "0.2.0",
    body: v2,
    deltas: [{ from_version: "0.1.0", from_sha256: sha256(base), from_size: base.length, url: "delta-0.1.0.bsdiff", size: signed.length, sha256: sha256(signed) }]
  }),
  { path: "/stable/amd64/delta-0.1.0.bsdiff", body: served }
]

/** A node running 0.1.0 whose slot A holds `active`, installing 0.2.0. */
const installOn = (seed: number, files: ReturnType<typeof channelWithDelta>, active: Uint8Array = v1) =>
  Effect.gen(function*() {
    const hardware = machine(seed, 512 * 1024)
    hardware.disk.write("KEELOS_ROOT_A", 0, active)
    const log = serve(hardware, "updates.test", files)
    const node = engineOn(hardware, { version: "0.1.0" })
    const result = yield* Effect.gen(function*() {
      const engine = yield* UpdateEngine
      const progress = yield* Stream.runCollect(engine.install({ source: channelUrl, force: false, reboot: false, actor: "admin" }))
      const patchLeft = yield* (yield* FileSystem.FileSystem).exists("/var/lib/keel/update/delta.patch")
      return { progress, state: yield* engine.state, history: yield* engine.history, patchLeft }
    }).pipe(Effect.provide(node.layer))
    return { ...result, log, slotB: hardware.disk.read("KEELOS_ROOT_B", 0, v2.length) }
  })

describe("delta installs", () => {
  it.effect("produce the new image from the active slot and the patch, without downloading the image", () =>
    Effect.gen(function*() {
      const { progress, state, history, log, slotB, patchLeft } = yield* installOn(41, channelWithDelta(patch))
      assert.isFalse(patchLeft, "the patch is removed once applied")
      assert.strictEqual(sha256(slotB), sha256(v2))
      assert.deepStrictEqual([state.phase, state.slots.B?.sha256, state.lastError], ["activated", sha256(v2), null])
      assert.isFalse(log.some((line) => line.endsWith("os-0.2.0.img")), "the full image was not fetched")
      assert.isTrue(log.some((line) => line.endsWith("delta-0.1.0.bsdiff")))
      assert.strictEqual(progress.find((p) => p.bytesSaved !== undefined)?.bytesSaved, v2.length - patch.length)
      assert.match(history.at(-1)!.reason, new RegExp(`^produced from 0\\.1\\.0 by a ${patch.length}-byte delta`))
    }))

  it.effect("a corrupt patch falls back to the full image, recorded in the state and the history", () =>
    Effect.gen(function*() {
      const damaged = patch.slice()
      damaged[patch.length >> 1] = damaged[patch.length >> 1]! ^ 0xff
      const { state, history, log, slotB } = yield* installOn(42, channelWithDelta(damaged, patch))
      assert.strictEqual(sha256(slotB), sha256(v2))
      assert.strictEqual(state.phase, "activated")
      assert.match(state.lastError ?? "", /the delta from 0\.1\.0 was not used: download: Integrity: .*installing the full image instead/)
      assert.isTrue(log.some((line) => line.endsWith("os-0.2.0.img")), "the full image was fetched")
      assert.deepStrictEqual(history.map((h) => h.kind), ["install", "failure"])
    }))

  it.effect("a signed patch that produces the wrong image is caught by the signed image hash, and falls back", () =>
    Effect.gen(function*() {
      const almost = v2.slice()
      almost[1234] = almost[1234]! ^ 1
      const wrong = bsdiff(v1, almost)
      const { state, slotB, history, patchLeft } = yield* installOn(43, channelWithDelta(wrong))
      assert.isFalse(patchLeft, "a patch that failed is removed too")
      assert.strictEqual(sha256(slotB), sha256(v2))
      assert.strictEqual(state.slots.B?.sha256, sha256(v2))
      assert.match(history.at(-1)!.reason, /the delta produced 340000 bytes hashing to [0-9a-f]{64}, not the signed image/)
    }))

  it.effect("an active slot that is not the patch's base is measured and refused before the patch is fetched", () =>
    Effect.gen(function*() {
      const { state, log, slotB } = yield* installOn(44, channelWithDelta(patch), image(34, v1.length))
      assert.strictEqual(sha256(slotB), sha256(v2))
      assert.match(state.lastError ?? "", /does not hold the image the delta was made from/)
      assert.isFalse(log.some((line) => line.endsWith("delta-0.1.0.bsdiff")))
    }))
})

/** Two releases as SquashFS images our writer wrote, and the content delta between them. */
const tree = (() => {
  const files1 = new Map([["usr/bin/node", text(200_000, 1)], ["usr/lib/modules/6.1.0-55/virtio.ko", text(50_000, 2)], ["etc/os-release", text(40, 3)]])
  const node2 = files1.get("usr/bin/node")!.slice()
  for (let i = 0; i < node2.length; i += 4_000) node2[i] = node2[i]! ^ 0x20
  const files2 = new Map([["usr/bin/node", node2], ["usr/lib/modules/6.1.0-56/virtio.ko", files1.get("usr/lib/modules/6.1.0-55/virtio.ko")!], ["etc/os-release", text(40, 4)]])
  const old = imageOf(files1)
  const next = imageOf(files2)
  const identity = { from: { sha256: sha256(old), size: old.length }, to: { sha256: sha256(next), size: next.length } }
  const { delta } = Effect.runSync(TreeDelta.generate(TreeDelta.memory(old), TreeDelta.memory(next), identity, { level: 3 }))
  return { old, next, delta }
})()

const treeChannel = (served: Uint8Array, signed: Uint8Array = served) => [
  ...channelFiles({
    version: "0.2.0",
    body: tree.next,
    deltas: [{ format: "tree", from_version: "0.1.0", from_sha256: sha256(tree.old), from_size: tree.old.length, url: "delta-0.1.0.keeltd", size: signed.length, sha256: sha256(signed) }]
  }),
  { path: "/stable/amd64/delta-0.1.0.keeltd", body: served }
]

const installTree = (seed: number, files: ReturnType<typeof treeChannel>, active: Uint8Array = tree.old) =>
  Effect.gen(function*() {
    const hardware = machine(seed, 512 * 1024)
    hardware.disk.write("KEELOS_ROOT_A", 0, active)
    const log = serve(hardware, "updates.test", files)
    const node = engineOn(hardware, { version: "0.1.0" })
    const result = yield* Effect.gen(function*() {
      const engine = yield* UpdateEngine
      const progress = yield* Stream.runCollect(engine.install({ source: channelUrl, force: false, reboot: false, actor: "admin" }))
      return { progress, state: yield* engine.state, history: yield* engine.history }
    }).pipe(Effect.provide(node.layer))
    return { ...result, log, slotB: hardware.disk.read("KEELOS_ROOT_B", 0, tree.next.length) }
  })

describe("content-delta installs", () => {
  it.effect("rebuild the new image from the active slot's files with the same writer, without the image", () =>
    Effect.gen(function*() {
      assert.isBelow(tree.delta.length, tree.next.length / 4)
      const { progress, state, log, slotB, history } = yield* installTree(51, treeChannel(tree.delta))
      assert.strictEqual(sha256(slotB), sha256(tree.next))
      assert.deepStrictEqual([state.phase, state.slots.B?.sha256, state.lastError], ["activated", sha256(tree.next), null])
      assert.isFalse(log.some((line) => line.endsWith("os-0.2.0.img")), "the full image was not fetched")
      assert.strictEqual(progress.find((p) => p.bytesSaved !== undefined)?.bytesSaved, tree.next.length - tree.delta.length)
      assert.match(history.at(-1)!.reason, /^produced from 0\.1\.0 by a \d+-byte delta/)
    }))

  it.effect("a signed but corrupt content delta falls back to the full image", () =>
    Effect.gen(function*() {
      const damaged = tree.delta.slice()
      // Past the header: a patch's zstd frame, whose checksum catches it.
      damaged[damaged.length - 20] = damaged[damaged.length - 20]! ^ 0xff
      const { state, log, slotB } = yield* installTree(52, treeChannel(damaged))
      assert.strictEqual(sha256(slotB), sha256(tree.next))
      assert.strictEqual(state.phase, "activated")
      assert.match(state.lastError ?? "", /the delta from 0\.1\.0 was not used: write: Integrity: keeldiff: Corrupt.*installing the full image instead/)
      assert.isTrue(log.some((line) => line.endsWith("os-0.2.0.img")), "the full image was fetched")
    }))
})
