/**
 * keel-init on the host, as a child subreaper (not PID 1), with real services: a crashing one is
 * restarted, an orphaned grandchild is reaped, output is captured and followed over the control
 * socket, a service is restarted on request, and a poweroff request (or SIGTERM) stops everything in
 * reverse order, killing what ignores SIGTERM after its grace.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { Effect, Fiber, Layer, Stream } from "effect"
import { RpcClient, RpcSerialization } from "effect/rpc"
import type { RpcClientError } from "effect/rpc"
import { NodeSocket } from "@effect/platform-node"
import { InitControl } from "@keelos/api"

const main = path.join(import.meta.dirname, "..", "src", "main.ts")
const quick = { initialMillis: 50, maxMillis: 200, resetAfterMillis: 60_000 }
const sh = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
  kind: "service", name, command: "/bin/sh", args: ["-c", script], env: { PATH: "/usr/bin:/bin" }, restart: "permanent",
  shutdownGraceMillis: 2_000, dependsOn: [], readiness: { _tag: "ProcessAlive" }, readyTimeoutMillis: 5_000, backoff: quick,
  optional: false, ...extra
})

const started: Array<ChildProcess> = []
afterEach(() => started.forEach((c) => c.kill("SIGKILL")))

const boot = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-init-"))
  const socket = path.join(dir, "init.sock")
  const config = {
    mode: "host",
    controlSocket: socket,
    reapIntervalMillis: 500,
    logs: { dir: path.join(dir, "logs"), maxBytes: 65536, keep: 2, flushMillis: 200, bufferLines: 1000 },
    services: {
      kind: "group", name: "root", restart: "permanent", strategy: "one_for_one", maxRestarts: 100, periodMillis: 10_000,
      dependsOn: [], backoff: quick,
      children: [
        sh("crashy", "sleep 0.2; exit 3"),
        sh("orphaner", "(sleep 0.3 &); echo $$ > " + path.join(dir, "orphaner.pid") + "; exec sleep 600"),
        sh("talker", "echo hello from talker; echo second line; exec sleep 600"),
        sh("stubborn", "trap '' TERM; while true; do sleep 0.05; done", { shutdownGraceMillis: 600 })
      ]
    }
  }
  fs.writeFileSync(path.join(dir, "init.json"), JSON.stringify(config))
  const child = spawn(process.execPath, [main, path.join(dir, "init.json")], { stdio: ["ignore", "pipe", "pipe"] })
  started.push(child)
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d: Buffer) => (stdout += d))
  child.stderr.on("data", (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { dir, socket, child, exited, output: () => ({ stdout, stderr }) }
}

const waitFor = async (file: string) => {
  for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 50))
}

const client = (socket: string) =>
  RpcClient.layerProtocolSocket().pipe(Layer.provide(NodeSocket.layerNet({ path: socket })), Layer.provide(RpcSerialization.layerNdjson))

type Client = RpcClient.FromGroup<typeof InitControl.InitControl, RpcClientError.RpcClientError>

const withClient = <A, E>(socket: string, f: (c: Client) => Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(RpcClient.make(InitControl.InitControl), f)).pipe(
      Effect.provide(client(socket)),
      Effect.timeoutOrElse({ duration: "8 seconds", orElse: () => Effect.die(new Error("control call timed out")) })
    ) as Effect.Effect<A, E>
  )

const alive = (pid: number) => spawnSync("kill", ["-0", String(pid)]).status === 0

describe("keel-init on the host", () => {
  it("supervises, reaps, serves its control socket, and powers off in order", async () => {
    const node = boot()
    await waitFor(node.socket)
    await new Promise((r) => setTimeout(r, 1500))
    const services = await withClient(node.socket, (c) => c.ListServices())
    const byName = Object.fromEntries(services.map((s) => [s.name, s]))
    expect(byName["crashy"]!.restarts).toBeGreaterThanOrEqual(2)
    expect(byName["talker"]!.state).toBe("running")
    const stubbornPid = byName["stubborn"]!.pid!
    expect(alive(stubbornPid)).toBe(true)

    const lines = await withClient(node.socket, (c) => Stream.runCollect(c.ServiceLogs({ service: "talker", tail: 10, follow: false })))
    expect(lines.map((l) => l.line)).toEqual(["hello from talker", "second line"])
    const unknown = await withClient(node.socket, (c) => Effect.flip(c.RestartService({ service: "nope" })))
    expect(unknown._tag).toBe("UnknownService")

    // Follow the talker while restarting it: the new incarnation's output arrives on the stream.
    const followed = await withClient(node.socket, (c) =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(c.ServiceLogs({ service: "talker", tail: 0, follow: true }), 2)))
        yield* Effect.sleep("200 millis")
        yield* c.RestartService({ service: "talker" })
        return yield* Fiber.await(fiber)
      }))
    expect(followed._tag).toBe("Success")

    const accepted = await withClient(node.socket, (c) => c.Power({ action: "poweroff", reason: "host test" }))
    expect(accepted).toEqual({ accepted: true })
    const code = await node.exited
    const { stdout, stderr } = node.output()
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout).toContain("poweroff requested: host test")
    const outcome = JSON.parse(stdout.trim().split("\n").pop()!).outcome
    expect(outcome).toMatchObject({ action: "poweroff", reason: "host test" })
    expect(outcome.reaped).toBeGreaterThanOrEqual(1)
    expect(alive(stubbornPid)).toBe(false)
    const talkerLog = fs.readFileSync(path.join(node.dir, "logs", "talker.log"), "utf8")
    expect(talkerLog.match(/ stdout hello from talker$/gm)?.length).toBe(2)
  }, 30_000)

  it("maps SIGTERM to an orderly stop", async () => {
    const node = boot()
    await waitFor(node.socket)
    await new Promise((r) => setTimeout(r, 500))
    node.child.kill("SIGTERM")
    const code = await node.exited
    expect(code).toBe(0)
    expect(node.output().stdout).toContain("reboot requested: SIGTERM received")
  }, 30_000)

  it("refuses an invalid configuration in one line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-init-"))
    fs.writeFileSync(path.join(dir, "init.json"), JSON.stringify({ mode: "host" }))
    const result = spawnSync(process.execPath, [main, path.join(dir, "init.json")], { encoding: "utf8" })
    expect(result.status).toBe(2)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toContain("Invalid: SchemaError(Missing key; at [\"controlSocket\"])")
  })
})
