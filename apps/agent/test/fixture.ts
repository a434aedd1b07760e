/**
 * A node on the host for the agent's tests: a real keel-init (host mode, real services) with its
 * control socket, a GRUB environment block made by grub-editenv, a PKI with one certificate per
 * case, and the real agent serving mutual TLS on a loopback port.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer } from "effect/http"
import { TestClock } from "effect/testing"
import { NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import { TlsPeer } from "@keelos/platform"
import { NodeMtlsClient } from "@keelos/platform-node"
import { freePort } from "../../../vm-tests/src/Qemu.ts"
import * as Agent from "../src/Agent.ts"
import type { AgentConfig } from "../src/AgentConfig.ts"

const initMain = path.join(import.meta.dirname, "..", "..", "init", "src", "main.ts")
const day = 24 * 3600_000

export interface TestPki {
  readonly ca: Pki.CertifiedKey
  readonly server: Pki.CertifiedKey
  readonly admin: Pki.CertifiedKey
  readonly operator: Pki.CertifiedKey
  readonly reader: Pki.CertifiedKey
  readonly noRole: Pki.CertifiedKey
  readonly expired: Pki.CertifiedKey
  readonly otherCaAdmin: Pki.CertifiedKey
}

export const makePki = (): Promise<TestPki> =>
  Effect.runPromise(Effect.gen(function*() {
    const ca = yield* Pki.makeCa({ name: "test cluster", days: 30 })
    const other = yield* Pki.makeCa({ name: "rogue cluster", days: 30 })
    const client = (cn: string, organization: string, signer = ca) => Pki.issue(signer, { usage: "client", commonName: cn, organization }, 10)
    const expired = yield* Effect.gen(function*() {
      yield* TestClock.setTime(Date.now() - 10 * day)
      return yield* Pki.issue(ca, { usage: "client", commonName: "old", organization: "os:admin" }, 2)
    }).pipe(Effect.provide(TestClock.layer()))
    return {
      ca,
      server: yield* Pki.issue(ca, { usage: "server", commonName: "node-1", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] }, 10),
      admin: yield* client("alice", "os:admin"),
      operator: yield* client("olga", "os:operator"),
      reader: yield* client("rita", "os:reader"),
      noRole: yield* client("nobody", "acme"),
      expired,
      otherCaAdmin: yield* client("mallory", "os:admin", other)
    }
  }))

export interface HostInit {
  readonly dir: string
  readonly socket: string
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  readonly stdout: () => string
}

const sh = (name: string, script: string) => ({
  kind: "service", name, command: "/bin/sh", args: ["-c", script], env: { PATH: "/usr/bin:/bin" }, restart: "permanent",
  shutdownGraceMillis: 2_000, dependsOn: [], readiness: { _tag: "ProcessAlive" }, readyTimeoutMillis: 5_000,
  backoff: { initialMillis: 50, maxMillis: 200, resetAfterMillis: 60_000 }, optional: false
})

/** A real keel-init in host mode supervising two shell services, and whatever `extra(dir)` adds. */
export const startInit = async (extra: (dir: string) => ReadonlyArray<unknown> = () => []): Promise<HostInit> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-agent-"))
  const socket = path.join(dir, "init.sock")
  const config = {
    mode: "host",
    controlSocket: socket,
    reapIntervalMillis: 500,
    services: {
      kind: "group", name: "root", restart: "permanent", strategy: "one_for_one", maxRestarts: 100, periodMillis: 10_000,
      dependsOn: [], backoff: { initialMillis: 50, maxMillis: 200, resetAfterMillis: 60_000 },
      children: [sh("talker", "echo hello from talker; echo second line; exec sleep 600"), sh("idler", "exec sleep 600"), ...extra(dir)]
    }
  }
  fs.writeFileSync(path.join(dir, "init.json"), JSON.stringify(config))
  const child = spawn(process.execPath, [initMain, path.join(dir, "init.json")], { stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  child.stdout.on("data", (d: Buffer) => (stdout += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  for (let i = 0; i < 200 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50))
  await new Promise((r) => setTimeout(r, 500))
  return { dir, socket, child, exited, stdout: () => stdout }
}

/**
 * Stops a host init the way an operator would (SIGTERM: its services stop in order), so no service
 * outlives the test; SIGKILL if it has not exited in 10 s.
 */
export const stopInit = async (init: HostInit | undefined) => {
  if (init === undefined || init.child.exitCode !== null) return
  init.child.kill("SIGTERM")
  const timer = setTimeout(() => init.child.kill("SIGKILL"), 10_000)
  await init.exited
  clearTimeout(timer)
}

/** A GRUB environment block written by grub-editenv: A good and booted. */
export const makeEnvBlock = (dir: string): string => {
  const file = path.join(dir, "grubenv")
  execFileSync("grub-editenv", [file, "create"])
  execFileSync("grub-editenv", [file, "set", "KEEL_ACTIVE=A", "KEEL_BOOTED=A"])
  return file
}

export interface RunningAgent {
  readonly url: string
  readonly metricsUrl: string
  readonly secretHeader: string
  readonly config: AgentConfig
  readonly close: () => Promise<void>
}

/** The real agent (Agent.layer) on a loopback port chosen by the kernel. */
export const startAgent = async (init: HostInit, pki: TestPki): Promise<RunningAgent> => {
  const config: AgentConfig = {
    listen: { host: "127.0.0.1", port: 0 },
    tls: { caFile: path.join(init.dir, "ca.crt"), certFile: path.join(init.dir, "node.crt"), keyFile: path.join(init.dir, "node.key") },
    initSocket: init.socket,
    envBlock: makeEnvBlock(init.dir),
    audit: { file: path.join(init.dir, "audit", "audit.log"), maxBytes: 65536, keep: 2, memoryEntries: 500 },
    metrics: { host: "127.0.0.1", port: await freePort() }
  }
  fs.writeFileSync(config.tls.caFile, pki.ca.cert)
  fs.writeFileSync(config.tls.certFile, pki.server.cert)
  fs.writeFileSync(config.tls.keyFile, pki.server.key, { mode: 0o600 })
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(Agent.layer(config, { ca: pki.ca.cert, ...pki.server }), scope))
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag === "UnixPathAddress") throw new Error("expected a TCP address")
  return {
    url: `https://127.0.0.1:${address.port}/rpc`,
    metricsUrl: `http://127.0.0.1:${config.metrics!.port}/metrics`,
    secretHeader: Context.get(context, TlsPeer.TlsPeer).header,
    config,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** Run `f` with a node API client presenting `credentials` (none: no client certificate). */
export const call = <A, E>(
  url: string,
  ca: string,
  credentials: Pki.CertifiedKey | undefined,
  f: (client: NodeApiClient.NodeApiClient["Service"]) => Effect.Effect<A, E>
): Promise<Exit.Exit<A, unknown>> =>
  Effect.runPromiseExit(
    Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, f)).pipe(
      Effect.provide(NodeApiClient.NodeApiClient.layer(url).pipe(Layer.provide(NodeMtlsClient.layer({ ca, ...(credentials ?? {}) })))),
      Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("call timed out")) })
    )
  )

export { freePort }
