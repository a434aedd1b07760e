import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { BootControl } from "@keelos/boot"
import { UpdateEngine } from "../src/index.ts"
import { channelFiles, channelUrl, engineOn, epoch, image, installAll, machine, serve, sha256 } from "./helpers.ts"

const v2 = image(2, 150_000)
const v3 = image(3, 120_000)

/** Runs `effect` on a simulated node whose clock starts at `epoch`. */
const onNode = <A, E>(node: ReturnType<typeof engineOn>, effect: Effect.Effect<A, E, UpdateEngine | BootControl.BootControl>) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(epoch)
    const fiber = yield* Effect.forkChild(Effect.provide(effect, node.layer))
    // Advance the virtual clock until the effect finishes (health gates wait on it).
    for (let i = 0; i < 200 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust(1_000)
    return yield* Fiber.join(fiber)
  })

const engine = Effect.gen(function*() {
  return yield* UpdateEngine
})

describe("UpdateEngine install", () => {
  it.effect("installs a signed release into the inactive slot, activates a 3-boot trial and asks for the reboot", () =>
    Effect.gen(function*() {
      const hardware = machine(1)
      serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const node = engineOn(hardware, { version: "0.1.0" })
      // The engine lives on past the end of the stream, as in the agent: the reboot follows a grace.
      const phases = yield* onNode(node, Effect.tap(installAll({ source: channelUrl }), () => Effect.sleep(3_000)))
      assert.deepStrictEqual(phases, ["checking", "downloading", "downloading", "staged", "activated"])
      assert.strictEqual(sha256(hardware.disk.read("KEELOS_ROOT_B", 0, v2.length)), sha256(v2))
      const { env, history, state } = yield* onNode(node, Effect.gen(function*() {
        const e = yield* engine
        return { state: yield* e.state, history: yield* e.history, env: yield* (yield* BootControl.BootControl).read }
      }))
      assert.deepStrictEqual([env.active, env.next, env.tries], ["A", "B", 3])
      assert.deepStrictEqual([state.phase, state.fromVersion, state.toVersion, state.targetSlot, state.download], ["activated", "0.1.0", "0.2.0", "B", null])
      assert.strictEqual(state.slots.B?.sha256, sha256(v2))
      assert.deepStrictEqual(history.map((h) => [h.kind, h.actor]), [["install", "admin"]])
      assert.match(node.reboots[0]!, /update to 0\.2\.0: trial boot of slot B \(asked by admin\)/)
    }))

  it.effect("refuses tampered metadata, a foreign arch, a downgrade and a second concurrent install", () =>
    Effect.gen(function*() {
      const hardware = machine(2)
      const files = channelFiles({ version: "0.2.0", body: v2 })
      const tampered = files.map((f) => f.path.endsWith("latest.json") ? { ...f, body: new TextEncoder().encode(new TextDecoder().decode(f.body).replace("0.2.0", "0.2.1")) } : f)
      serve(hardware, "updates.test", tampered)
      serve(hardware, "arm.test", channelFiles({ version: "0.2.0", body: v2, arch: "arm64" }).map((f) => ({ ...f, path: f.path.replace("arm64", "amd64") })))
      serve(hardware, "old.test", channelFiles({ version: "0.0.9", body: v2 }))
      const node = engineOn(hardware, { version: "0.1.0" })
      const messages = yield* onNode(node, Effect.all([
        installAll({ source: channelUrl }),
        installAll({ source: "http://arm.test/stable/amd64/latest.json" }),
        installAll({ source: "http://old.test/stable/amd64/latest.json" }),
        installAll({ source: "ftp://x/y" }),
        installAll({ source: "http://updates.test/os.img" })
      ]))
      const text = messages.map((m) => (Array.isArray(m) ? m.join(",") : (m as { message: string }).message))
      assert.match(text[0]!, /Refused: release metadata refused: BadSignature/)
      assert.match(text[1]!, /Refused: the release is built for arm64; this node is amd64/)
      assert.match(text[2]!, /Refused: 0\.0\.9 is older than the running 0\.1\.0: a downgrade needs --force/)
      assert.match(text[3]!, /BadRequest: unsupported scheme ftp:/)
      assert.match(text[4]!, /BadRequest: a direct image URL needs its SHA-256/)
      const { env, state } = yield* onNode(node, Effect.gen(function*() {
        return { state: yield* (yield* engine).state, env: yield* (yield* BootControl.BootControl).read }
      }))
      assert.strictEqual(env.next, null, "nothing was activated")
      assert.strictEqual(state.phase, "failed")
      assert.strictEqual(node.reboots.length, 0)

      serve(hardware, "slow.test", channelFiles({ version: "0.2.0", body: v2 }))
      const both = yield* onNode(node, Effect.all([installAll({ source: "http://slow.test/stable/amd64/latest.json", reboot: false }), installAll({ source: "http://slow.test/stable/amd64/latest.json" })], { concurrency: 2 }))
      assert.match(String((both[1] as { message: string }).message), /Busy/)
    }))

  it.effect("while a trial is armed: the same image only asks for the reboot again; another one supersedes it once it is known", () =>
    Effect.gen(function*() {
      const hardware = machine(6)
      const log = serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const v3 = image(3, 150_000)
      serve(hardware, "next.test", channelFiles({ version: "0.3.0", body: v3 }))
      serve(hardware, "down.test", [], { status: 503 })
      const node = engineOn(hardware, { version: "0.1.0" })
      yield* onNode(node, installAll({ source: channelUrl, reboot: false }))
      const fetched = log.filter((line) => line.endsWith(".img")).length
      const again = yield* onNode(node, Effect.tap(installAll({ source: channelUrl }), () => Effect.sleep(3_000)))
      assert.deepStrictEqual(again, ["activated"])
      assert.strictEqual(log.filter((line) => line.endsWith(".img")).length, fetched, "the armed image was not downloaded again")
      assert.match(node.reboots[0]!, /update to 0\.2\.0: trial boot of slot B/)
      // A check that fails leaves the armed trial and the version it names alone.
      const failed = yield* onNode(node, installAll({ source: "http://down.test/stable/amd64/latest.json" }))
      assert.match((failed as { message: string }).message, /^check: Transfer/)
      const kept = yield* onNode(node, Effect.all({ state: Effect.flatMap(engine, (e) => e.state), env: Effect.flatMap(BootControl.BootControl, (b) => b.read) }))
      assert.deepStrictEqual([kept.env.next, kept.state.toVersion, kept.state.targetSlot], ["B", "0.2.0", "B"])
      // Another release supersedes the armed one.
      const other = yield* onNode(node, installAll({ source: "http://next.test/stable/amd64/latest.json", reboot: false }))
      assert.strictEqual((other as ReadonlyArray<string>).at(-1), "activated")
      const after = yield* onNode(node, Effect.all({ state: Effect.flatMap(engine, (e) => e.state), env: Effect.flatMap(BootControl.BootControl, (b) => b.read) }))
      assert.deepStrictEqual([after.env.next, after.state.toVersion, after.state.slots.B?.sha256], ["B", "0.3.0", sha256(v3)])
    }))

  it.effect("refuses to start on a full data partition, before a byte of the image is fetched, and starts once there is room", () =>
    Effect.gen(function*() {
      const hardware = machine(5)
      const log = serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const node = engineOn(hardware, { version: "0.1.0" })
      hardware.dataFreeBytes = 3 * 1024 * 1024
      const refused = yield* onNode(node, installAll({ source: channelUrl }))
      assert.match((refused as { message: string }).message, /^check: NoSpace: the data partition \(\/var\/lib\/keel\/update\) has 3\.0 MB free; an update needs 16\.0 MB/)
      assert.isFalse(log.some((line) => line.endsWith(".img")), "no image bytes were fetched")
      hardware.dataFreeBytes = 64 * 1024 * 1024
      const phases = yield* onNode(node, installAll({ source: channelUrl }))
      assert.strictEqual((phases as ReadonlyArray<string>).at(-1), "activated")
    }))

  it.effect("installs a direct image URL with its digest, and refuses one whose digest does not match", () =>
    Effect.gen(function*() {
      const hardware = machine(3)
      serve(hardware, "images.test", [{ path: "/v2.img", body: v2 }])
      const node = engineOn(hardware, { version: "0.1.0" })
      const bad = yield* onNode(node, installAll({ source: "http://images.test/v2.img", sha256: sha256(v3) }))
      assert.match(String((bad as { message: string }).message), /Integrity/)
      const good = yield* onNode(node, installAll({ source: "http://images.test/v2.img", sha256: sha256(v2) }))
      assert.deepStrictEqual(good, ["checking", "downloading", "downloading", "staged", "activated"])
      const state = yield* onNode(node, Effect.flatMap(engine, (e) => e.state))
      assert.strictEqual(state.toVersion, null)
    }))
})

describe("UpdateEngine trial boot", () => {
  const installed = (healthy: () => boolean) =>
    Effect.gen(function*() {
      const hardware = machine(4)
      serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const v1 = engineOn(hardware, { version: "0.1.0" })
      yield* onNode(v1, Effect.flatMap(engine, (e) => e.reconcile))
      yield* onNode(v1, installAll({ source: channelUrl }))
      hardware.crash()
      const decision = hardware.powerOn()
      assert.strictEqual(decision._tag === "Booted" ? decision.decision.boot : decision._tag, "B")
      return { hardware, v2: engineOn(hardware, { version: "0.2.0", healthy }) }
    })

  it.effect("a healthy trial becomes the last known good slot", () =>
    Effect.gen(function*() {
      const { v2: node } = yield* installed(() => true)
      const outcome = yield* onNode(node, Effect.flatMap(engine, (e) => e.reconcile))
      assert.deepStrictEqual(outcome, { _tag: "Promoted", version: "0.2.0" })
      const { env, history, state } = yield* onNode(node, Effect.gen(function*() {
        const e = yield* engine
        return { state: yield* e.state, history: yield* e.history, env: yield* (yield* BootControl.BootControl).read }
      }))
      assert.deepStrictEqual([env.active, env.next], ["B", null])
      assert.strictEqual(state.phase, "success")
      assert.deepStrictEqual(history.map((h) => h.kind), ["install", "success"])
      assert.strictEqual(node.reboots.length, 0)
    }))

  it.effect("an unhealthy trial is rolled back at once, remembered, and not reinstalled without force", () =>
    Effect.gen(function*() {
      const { hardware, v2: node } = yield* installed(() => false)
      const outcome = yield* onNode(node, Effect.flatMap(engine, (e) => e.reconcile))
      assert.strictEqual(outcome._tag, "RolledBack")
      assert.match(node.reboots[0]!, /rollback: 0\.2\.0 failed its health gate: not healthy after 30 s: node: the node is unwell/)
      hardware.crash()
      const decision = hardware.powerOn()
      assert.strictEqual(decision._tag === "Booted" ? decision.decision.boot : decision._tag, "A")
      const v1 = engineOn(hardware, { version: "0.1.0" })
      const again = yield* onNode(v1, installAll({ source: channelUrl }))
      assert.match(String((again as { message: string }).message), /0\.2\.0 was rolled back on this node before/)
      const forced = yield* onNode(v1, installAll({ source: channelUrl, force: true, reboot: false }))
      assert.deepStrictEqual(Array.isArray(forced) ? forced.at(-1) : forced, "activated")
      const history = yield* onNode(v1, Effect.flatMap(engine, (e) => e.history))
      assert.deepStrictEqual(history.map((h) => [h.kind, h.actor]), [["install", "admin"], ["rollback", "health-gate"], ["failure", "admin"], ["install", "admin"]])
    }))

  it.effect("a trial that never reaches the agent is recorded as rolled back by the firmware", () =>
    Effect.gen(function*() {
      const { hardware } = yield* installed(() => true)
      // Three trial boots that die before the agent runs: GRUB falls back to A.
      for (let i = 0; i < 3; i++) {
        hardware.crash()
        hardware.powerOn()
      }
      const v1 = engineOn(hardware, { version: "0.1.0" })
      const outcome = yield* onNode(v1, Effect.flatMap(engine, (e) => e.reconcile))
      assert.deepStrictEqual(outcome, { _tag: "FirmwareRolledBack", version: "0.2.0" })
      const state = yield* onNode(v1, Effect.flatMap(engine, (e) => e.state))
      assert.deepStrictEqual([state.phase, state.rolledBack], ["rolled_back", ["0.2.0"]])
    }))

  it.effect("manual rollback returns to the slot that booted healthy before, and refuses when there is none", () =>
    Effect.gen(function*() {
      const fresh = machine(5)
      const lone = engineOn(fresh, { version: "0.1.0" })
      const refused = yield* onNode(lone, Effect.flip(Effect.flatMap(engine, (e) => e.rollback("try", "admin"))))
      assert.match(refused.message, /slot B holds no image/)

      const { hardware, v2: node } = yield* installed(() => true)
      yield* onNode(node, Effect.flatMap(engine, (e) => e.reconcile))
      const back = yield* onNode(node, Effect.flatMap(engine, (e) => e.rollback("kubelet misbehaves", "alice")))
      assert.deepStrictEqual(back, { slot: "A", version: "0.1.0" })
      hardware.crash()
      const decision = hardware.powerOn()
      assert.strictEqual(decision._tag === "Booted" ? decision.decision.boot : decision._tag, "A")
      const history = yield* onNode(node, Effect.flatMap(engine, (e) => e.history))
      assert.deepStrictEqual(history.at(-1)?.kind, "manual_rollback")
      assert.deepStrictEqual(history.at(-1)?.actor, "alice")
    }))
})

describe("UpdateEngine hooks", () => {
  it.effect("a failing pre-update hook aborts before any download; post-update hooks hear the outcome", () =>
    Effect.gen(function*() {
      const hardware = machine(21)
      const log = serve(hardware, "updates.test", channelFiles({ version: "0.2.0", body: v2 }))
      const events: Array<string> = []
      let allow = false
      const hooks = (event: { readonly event: string; readonly toVersion: string | null; readonly outcome: string | null }) =>
        Effect.suspend(() => {
          events.push(`${event.event} ${event.toVersion} ${event.outcome}`)
          return event.event === "pre-update" && !allow ? Effect.fail("drain refused: PodDisruptionBudget") : Effect.void
        })
      const v1 = engineOn(hardware, { version: "0.1.0", hooks })
      const refused = yield* onNode(v1, installAll({ source: channelUrl }))
      assert.match(String((refused as { message: string }).message), /HookFailed: pre-update hook: drain refused: PodDisruptionBudget; the update is aborted/)
      assert.isFalse(log.some((line) => line.endsWith(".img")), "nothing was downloaded")
      allow = true
      yield* onNode(v1, installAll({ source: channelUrl }))
      hardware.crash()
      hardware.powerOn()
      const v2node = engineOn(hardware, { version: "0.2.0", hooks })
      yield* onNode(v2node, Effect.flatMap(engine, (e) => e.reconcile))
      assert.deepStrictEqual(events, ["pre-update 0.2.0 null", "pre-update 0.2.0 null", "post-update 0.2.0 success"])
    }))
})
