/**
 * The node API over real mutual TLS on loopback, against a real keel-init: every certificate case
 * (each role, none, another CA's, expired, no role), a forged role header, the whole role table,
 * the audit log, and power requests reaching init.
 */
import { spawnSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as tls from "node:tls"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import { RpcClient } from "effect/rpc"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import { call, type HostInit, makePki, type RunningAgent, startAgent, startInit, stopInit, type TestPki } from "./fixture.ts"

let pki: TestPki
let init: HostInit
let agent: RunningAgent

beforeAll(async () => {
  pki = await makePki()
  init = await startInit()
  agent = await startAgent(init, pki)
}, 30_000)

afterAll(async () => {
  await agent?.close()
  await stopInit(init)
})

const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => (Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined)
const tagOf = (exit: Exit.Exit<unknown, unknown>): string | undefined => (failureOf(exit) as { _tag?: string } | undefined)?._tag

/** A failure's message, and for transport failures the socket or TLS error code underneath. */
const describeFailure = (exit: Exit.Exit<unknown, unknown>): string => {
  const error = failureOf(exit)
  const { code, message } = NodeApiClient.transportCause(error)
  return `${String((error as { message?: unknown } | undefined)?.message)} | ${code ?? ""} ${message}`
}

describe("the node API over mutual TLS", () => {
  it("tells each caller who they are, from the certificate", async () => {
    for (const [key, role, cn] of [["admin", "os:admin", "alice"], ["operator", "os:operator", "olga"], ["reader", "os:reader", "rita"]] as const) {
      const exit = await call(agent.url, pki.ca.cert, pki[key], (c) => c.WhoAmI())
      expect(exit).toMatchObject({ _tag: "Success", value: { commonName: cn, role } })
    }
  })

  it("reports real status: boot environment, init's services, the node certificate", async () => {
    const exit = await call(agent.url, pki.ca.cert, pki.reader, (c) => c.GetStatus())
    if (!Exit.isSuccess(exit)) throw new Error(describeFailure(exit))
    const status = exit.value
    expect(status.bootEnv.active).toBe("A")
    expect(status.bootedSlot).toBe("A")
    expect(status.slots).toEqual([
      { slot: "A", role: "good", booted: true, version: status.version },
      { slot: "B", role: "inactive", booted: false, version: null }
    ])
    expect(status.services.map((s) => [s.name, s.state]).filter(([n]) => n !== "root")).toEqual([["talker", "running"], ["idler", "running"]])
    expect(status.certificate.commonName).toBe("node-1")
    expect(status.certificate.daysLeft).toBeGreaterThanOrEqual(9)
    expect(status.uptimeSeconds).toBeGreaterThan(0)
    expect(status.caller.role).toBe("os:reader")
  })

  it("refuses, in the TLS handshake, a client with no certificate, another CA's, or an expired one", async () => {
    const none = await call(agent.url, pki.ca.cert, undefined, (c) => c.WhoAmI())
    expect(tagOf(none)).toBe("RpcClientError")
    expect(describeFailure(none)).toContain("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED")
    for (const credentials of [pki.otherCaAdmin, pki.expired]) {
      const exit = await call(agent.url, pki.ca.cert, credentials, (c) => c.WhoAmI())
      expect(tagOf(exit)).toBe("RpcClientError")
      expect(describeFailure(exit)).toMatch(/ECONNRESET|alert/)
    }
    // None of them reached the API: the audit log has no entry for them.
    const audit = await call(agent.url, pki.ca.cert, pki.admin, (c) => c.GetAuditLog({ tail: 1000 }))
    expect(Exit.isSuccess(audit) && audit.value.filter((e) => e.commonName === "mallory" || e.commonName === "old")).toEqual([])
  })

  it("refuses a certificate without a KeelOS role", async () => {
    const exit = await call(agent.url, pki.ca.cert, pki.noRole, (c) => c.WhoAmI())
    expect(failureOf(exit)).toBeInstanceOf(NodeApi.Unauthorized)
    expect(describeFailure(exit)).toContain("carries no KeelOS role")
  })

  it("ignores role headers a client puts into its messages", async () => {
    const forged = JSON.stringify({ commonName: "rita", organizations: ["os:admin"], serial: "1", notAfterMillis: 0 })
    for (const header of ["x-keel-peer", "x-client-role", "x-keel-role", "x-mtls-peer"]) {
      const exit = await call(agent.url, pki.ca.cert, pki.reader, (c) =>
        RpcClient.withHeaders(c.GetAuditLog({ tail: 1 }), { [header]: forged, "x-keel-role": "os:admin" }))
      expect(failureOf(exit)).toBeInstanceOf(NodeApi.Unauthorized)
    }
    // The server's own header name is secret and differs on every start.
    expect(agent.secretHeader).toMatch(/^x-keel-peer-[0-9a-f]{32}$/)
  })

  it("walks the whole role table: every operation, every role", async () => {
    const payloads: Record<string, unknown> = {
      Reboot: { reason: "table" }, Shutdown: { reason: "table" }, RestartService: { service: "idler" },
      StreamLogs: { service: "talker", tail: 1, follow: false }, GetAuditLog: { tail: 1 },
      InstallUpdate: { source: "https://example.invalid/latest.json", force: false, reboot: false },
      ScheduleUpdate: { source: "https://example.invalid/latest.json", window: "Sat 02:00-04:00 UTC" },
      CancelScheduledUpdate: { id: "x" }, TriggerRollback: { reason: "table" }, ConfigureNetwork: { config: "{}", mode: "try", timeoutSeconds: 60 },
      // Refused by the node for what it is (not a certificate), after the role check let it through.
      RotateCertificate: { certificate: "not a certificate", key: "not a key" },
      SignalService: { service: "nope", signal: "SIGTERM" }
    }
    // Every operation states its least role; none falls back to the default.
    const unstated = [...NodeApi.NodeApi.requests.values()].filter((rpc) => !rpc.annotations.mapUnsafe.has(NodeApi.MinimumRole.key))
    expect(unstated.map((rpc) => rpc._tag)).toEqual([])
    const checked: Array<string> = []
    for (const [operation, minimum] of NodeApi.permissions) {
      for (const role of NodeApi.roles) {
        const allowed = NodeApi.allows(role, minimum)
        // Power operations that are allowed would power init off: that is checked once, last.
        if (allowed && (operation === "Reboot" || operation === "Shutdown")) continue
        const credentials = role === "os:admin" ? pki.admin : role === "os:operator" ? pki.operator : pki.reader
        const exit = await call(agent.url, pki.ca.cert, credentials, (c) => {
          const method = (c as unknown as Record<string, (p: unknown) => unknown>)[operation]!
          const result = method(payloads[operation] ?? undefined)
          return Stream.isStream(result) ? Stream.runCollect(result as Stream.Stream<unknown, unknown>) : (result as Effect.Effect<unknown, unknown>)
        })
        const denied = failureOf(exit) instanceof NodeApi.Unauthorized
        expect({ operation, role, denied }).toEqual({ operation, role, denied: !allowed })
        if (allowed) expect(["Success", "NotAvailable", "NodeFailure", "UnknownService"]).toContain(Exit.isSuccess(exit) ? "Success" : tagOf(exit))
        checked.push(`${operation}/${role}`)
      }
    }
    expect(checked.length).toBe(NodeApi.permissions.size * 3 - 4)
  })

  it("restarts a service and streams its logs for an operator", async () => {
    const before = await call(agent.url, pki.ca.cert, pki.operator, (c) => c.ListServices())
    const pidBefore = Exit.isSuccess(before) ? before.value.find((s) => s.name === "talker")?.pid : undefined
    expect(await call(agent.url, pki.ca.cert, pki.operator, (c) => c.RestartService({ service: "talker" }))).toMatchObject({ _tag: "Success" })
    await new Promise((r) => setTimeout(r, 500))
    const after = await call(agent.url, pki.ca.cert, pki.operator, (c) => c.ListServices())
    const pidAfter = Exit.isSuccess(after) ? after.value.find((s) => s.name === "talker")?.pid : undefined
    expect(pidAfter).toBeTypeOf("number")
    expect(pidAfter).not.toBe(pidBefore)
    const logs = await call(agent.url, pki.ca.cert, pki.reader, (c) => Stream.runCollect(c.StreamLogs({ service: "talker", tail: 2, follow: false })))
    expect(Exit.isSuccess(logs) && logs.value.map((l) => l.line)).toEqual(["hello from talker", "second line"])
    const unknown = await call(agent.url, pki.ca.cert, pki.operator, (c) => c.RestartService({ service: "nope" }))
    expect(tagOf(unknown)).toBe("UnknownService")
  })

  it("streams the kernel's log as the service `kernel`, with tail and since", async () => {
    const tail = await call(agent.url, pki.ca.cert, pki.reader, (c) => Stream.runCollect(c.StreamLogs({ service: "kernel", tail: 3, follow: false })))
    expect(Exit.isSuccess(tail) && tail.value.map((l) => l.service)).toEqual(["kernel", "kernel", "kernel"])
    const marker = `keelos-agent-test-${process.pid}`
    const following = call(agent.url, pki.ca.cert, pki.reader, (c) =>
      c.StreamLogs({ service: "kernel", tail: 0, follow: true }).pipe(Stream.filter((l) => l.line.includes(marker)), Stream.take(1), Stream.runCollect))
    await new Promise((r) => setTimeout(r, 500))
    fs.writeFileSync("/dev/kmsg", `<6>${marker}\n`)
    const followed = await following
    expect(Exit.isSuccess(followed) && followed.value[0]).toMatchObject({ service: "kernel", line: marker })
    const at = Exit.isSuccess(followed) ? followed.value[0]!.atMillis : 0
    expect(Math.abs(at - Date.now())).toBeLessThan(5_000)
    const since = await call(agent.url, pki.ca.cert, pki.reader, (c) => Stream.runCollect(c.StreamLogs({ service: "kernel", tail: 10_000, follow: false, sinceMillis: at })))
    expect(Exit.isSuccess(since) && since.value.some((l) => l.line === marker)).toBe(true)
    expect(Exit.isSuccess(since) && since.value.every((l) => l.atMillis >= at)).toBe(true)
  })

  it("kills a service on request; init restarts it", async () => {
    const pidOf = async () => {
      const listed = await call(agent.url, pki.ca.cert, pki.reader, (c) => c.ListServices())
      return Exit.isSuccess(listed) ? listed.value.find((s) => s.name === "idler") : undefined
    }
    const before = await pidOf()
    const killed = await call(agent.url, pki.ca.cert, pki.admin, (c) => c.SignalService({ service: "idler", signal: "SIGKILL" }))
    expect(killed).toMatchObject({ _tag: "Success", value: { delivered: true } })
    let after = await pidOf()
    for (let i = 0; i < 50 && (after?.pid === before?.pid || after?.state !== "running"); i++) {
      await new Promise((r) => setTimeout(r, 100))
      after = await pidOf()
    }
    expect(after).toMatchObject({ state: "running", restarts: before!.restarts + 1 })
    expect(after!.pid).not.toBe(before!.pid)
    expect(after!.lastExit?.reason).toBe("killed by SIGKILL")
    const denied = await call(agent.url, pki.ca.cert, pki.operator, (c) => c.SignalService({ service: "idler", signal: "SIGKILL" }))
    expect(failureOf(denied)).toBeInstanceOf(NodeApi.Unauthorized)
  })

  it("reports the network as the kernel has it, and the (absent) static configuration", async () => {
    const status = await call(agent.url, pki.ca.cert, pki.reader, (c) => c.GetNetworkStatus())
    if (!Exit.isSuccess(status)) throw new Error(describeFailure(status))
    expect(status.value.links.find((l) => l.name === "lo")).toMatchObject({ up: true, addresses: expect.arrayContaining(["127.0.0.1/8"]) })
    const config = await call(agent.url, pki.ca.cert, pki.reader, (c) => c.GetNetworkConfig())
    expect(config).toMatchObject({ _tag: "Success", value: { interfaces: [] } })
  })

  it("refuses a malformed request by its schema and keeps serving", async () => {
    const bad = await call(agent.url, pki.ca.cert, pki.reader, (c) => Stream.runCollect(c.StreamLogs({ service: "talker", tail: -5, follow: false })))
    expect(Exit.isFailure(bad)).toBe(true)
    expect(await call(agent.url, pki.ca.cert, pki.reader, (c) => c.WhoAmI())).toMatchObject({ _tag: "Success" })
  })

  it("audits every call, allowed or denied, persisted and with secrets redacted", async () => {
    const exit = await call(agent.url, pki.ca.cert, pki.admin, (c) => c.GetAuditLog({ tail: 1000 }))
    if (!Exit.isSuccess(exit)) throw new Error(describeFailure(exit))
    const entries = exit.value
    expect(entries.some((e) => e.commonName === "rita" && e.operation === "GetAuditLog" && e.result.startsWith("denied:"))).toBe(true)
    expect(entries.some((e) => e.commonName === "nobody" && e.result.includes("carries no KeelOS role"))).toBe(true)
    expect(entries.some((e) => e.commonName === "olga" && e.operation === "RestartService" && e.arguments === "{\"service\":\"talker\"}" && e.result === "ok")).toBe(true)
    const onDisk = fs.readFileSync(agent.config.audit.file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { operation: string })
    // The call that read the log is audited after it answered.
    expect(onDisk.length).toBe(entries.length + 1)
    expect(path.basename(agent.config.audit.file)).toBe("audit.log")
  })

  it("serves Prometheus metrics that promtool accepts, from the same facts as the status", async () => {
    const response = await fetch(agent.metricsUrl)
    expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4")
    const text = await response.text()
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
    expect(check.stdout + check.stderr).toBe("")
    expect(check.status).toBe(0)
    const lines = text.split("\n")
    expect(lines).toContain("keelos_os_info{version=\"0.1.0\",slot=\"A\"} 1")
    expect(lines).toContain("keelos_booted_slot{slot=\"A\"} 1")
    expect(lines).toContain("keelos_booted_slot{slot=\"B\"} 0")
    expect(lines).toContain("keelos_service_state{service=\"idler\",state=\"running\"} 1")
    expect(lines).toContain("keelos_service_state{service=\"idler\",state=\"backoff\"} 0")
    expect(lines.filter((l) => l.startsWith("keelos_update_phase{"))).toHaveLength(9)
    expect(lines).toContain("keelos_update_phase{phase=\"idle\"} 1")
    const listed = await call(agent.url, pki.ca.cert, pki.reader, (c) => c.ListServices())
    for (const service of Exit.isSuccess(listed) ? listed.value.filter((s) => s.kind === "service") : []) {
      expect(lines).toContain(`keelos_service_restarts_total{service="${service.name}"} ${service.restarts}`)
    }
    const expiry = Number(lines.find((l) => l.startsWith("keelos_certificate_expiry_timestamp_seconds{common_name=\"node-1\"}"))?.split(" ")[1])
    expect(expiry * 1000).toBe(Math.floor(new X509Certificate(pki.server.cert).validToDate.getTime() / 1000) * 1000)
  })

  it("rotates the agent's certificate while it runs: checked, persisted, served to new connections", async () => {
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(agent.url)
        const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: pki.ca.cert, ...pki.reader, servername: "localhost" }, () => {
          resolve(socket.getPeerCertificate().serialNumber)
          socket.end()
        })
        socket.on("error", reject)
      })
    const before = await serial()
    const fresh = await Effect.runPromise(Pki.issue(pki.ca, { usage: "server", commonName: "node-1-rotated", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] }, 20))
    const foreign = await Effect.runPromise(Effect.flatMap(Pki.makeCa({ name: "elsewhere", days: 5 }), (ca) =>
      Pki.issue(ca, { usage: "server", commonName: "x", dnsNames: [], ipAddresses: ["127.0.0.1"] }, 5)))
    const refusals = await Promise.all([
      call(agent.url, pki.ca.cert, pki.admin, (c) => c.RotateCertificate({ certificate: foreign.cert, key: foreign.key })),
      call(agent.url, pki.ca.cert, pki.admin, (c) => c.RotateCertificate({ certificate: fresh.cert, key: foreign.key })),
      call(agent.url, pki.ca.cert, pki.operator, (c) => c.RotateCertificate({ certificate: fresh.cert, key: fresh.key }))
    ])
    expect(refusals.map(describeFailure)).toEqual([
      expect.stringContaining("not signed by the cluster CA"),
      expect.stringContaining("the key does not belong to the certificate"),
      expect.stringContaining("needs role os:admin")
    ])
    expect(await serial()).toBe(before)
    const rotated = await call(agent.url, pki.ca.cert, pki.admin, (c) => c.RotateCertificate({ certificate: fresh.cert, key: fresh.key }))
    expect(rotated).toMatchObject({ _tag: "Success", value: { commonName: "node-1-rotated" } })
    expect(await serial()).toBe(new X509Certificate(fresh.cert).serialNumber)
    expect(fs.readFileSync(agent.config.tls.certFile, "utf8")).toBe(fresh.cert)
    expect(fs.readFileSync(agent.config.tls.keyFile, "utf8")).toBe(fresh.key)
    expect(fs.statSync(agent.config.tls.keyFile).mode & 0o777).toBe(0o600)
    const status = await call(agent.url, pki.ca.cert, pki.reader, (c) => c.GetStatus())
    expect(Exit.isSuccess(status) && status.value.certificate).toMatchObject({ commonName: "node-1-rotated", daysLeft: 19 })
    // The audit log has the call, with the key redacted.
    const audit = await call(agent.url, pki.ca.cert, pki.admin, (c) => c.GetAuditLog({ tail: 1000 }))
    const entry = Exit.isSuccess(audit) ? audit.value.findLast((e) => e.operation === "RotateCertificate" && e.result === "ok") : undefined
    expect(entry?.arguments).toContain("\"key\":\"[redacted]\"")
    expect(entry?.arguments).not.toContain("PRIVATE KEY")
  })

  it("hands a shutdown to init with the caller's name, and init powers off in order", async () => {
    const exit = await call(agent.url, pki.ca.cert, pki.operator, (c) => c.Shutdown({ reason: "maintenance" }))
    expect(exit).toMatchObject({ _tag: "Success", value: { accepted: true } })
    expect(await init.exited).toBe(0)
    expect(init.stdout()).toContain("maintenance (asked by olga)")
  })
})
