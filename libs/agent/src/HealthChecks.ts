/**
 * The health checks of a KeelOS node, as the update engine's health gate runs them after a trial
 * boot and GetHealth reports them: init's services are up, containerd answers on its socket,
 * kubelet's healthz answers when kubelet runs, the network has an address beyond loopback, the
 * data partition takes a synced write; plus the HTTP checks the node's configuration adds.
 */
import { Effect, FileSystem, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { Links, Sockets } from "@keelos/platform"
import type { HealthGate } from "@keelos/update"
import type { InitClient } from "./InitClient.ts"

export const HttpCheck = Schema.Struct({
  name: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  url: Schema.String,
  required: Schema.Boolean,
  timeoutMillis: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 600_000 }))
})
export type HttpCheck = typeof HttpCheck.Type

export const containerdSocket = "/run/containerd/containerd.sock"
export const kubeletHealthz = "http://127.0.0.1:10248/healthz"

const describe = (error: unknown) => (error as { message?: string }).message ?? String(error)

/** An HTTP GET that must answer 2xx. */
export const httpGet = (client: HttpClient.HttpClient, url: string) =>
  client.execute(HttpClientRequest.get(url)).pipe(
    Effect.mapError((error) => `GET ${url}: ${describe(error)}`),
    Effect.flatMap((response) => response.status >= 200 && response.status < 300 ? Effect.void : Effect.fail(`GET ${url}: HTTP ${response.status}`))
  )

export interface Options {
  /** A directory on the data partition the write probe may use. */
  readonly probeDir: string
  readonly http: ReadonlyArray<HttpCheck>
}

/** The checks as they stand now: which services exist decides whether containerd and kubelet are checked. */
export const make = (init: InitClient["Service"], options: Options) =>
  Effect.gen(function*() {
    const sockets = yield* Sockets.Sockets
    const client = yield* HttpClient.HttpClient
    const links = yield* Links.Links
    const fs = yield* FileSystem.FileSystem
    const services = yield* Effect.orElseSucceed(init.ListServices(), () => [])
    const listed = (name: string) => services.some((s) => s.name === name)
    /**
     * Runs `probe` only while init has the service: one that turns out absent from the image (kubelet
     * decided while the gate runs) passes rather than failing the gate forever.
     */
    const whilePresent = (name: string, probe: Effect.Effect<void, string>) =>
      Effect.flatMap(Effect.orElseSucceed(init.ListServices(), () => services), (now) =>
        now.some((s) => s.name === name && s.state === "absent") ? Effect.void : probe)

    const check = (name: string, run: Effect.Effect<void, string>, timeoutMillis = 5_000): HealthGate.Check => ({ name, required: true, timeoutMillis, run })

    const servicesUp = check("services", Effect.gen(function*() {
      const listed = yield* Effect.mapError(init.ListServices(), (error) => `init control socket: ${describe(error)}`)
      const down = listed.filter((s) => s.kind === "service" && !(s.state === "running" || s.state === "absent") || s.health === "unhealthy")
      if (down.length > 0) return yield* Effect.fail(down.map((s) => `${s.name} is ${s.health === "unhealthy" ? "unhealthy" : s.state}`).join(", "))
    }))

    const network = check("network", Effect.gen(function*() {
      const list = yield* Effect.mapError(links.list, describe)
      for (const link of list.filter((l) => l.up && l.name !== "lo")) {
        if ((yield* Effect.orElseSucceed(links.addresses(link.name), () => [])).length > 0) return
      }
      return yield* Effect.fail("no link other than loopback is up with an address")
    }))

    const dataWritable = check("data-writable", Effect.scoped(Effect.gen(function*() {
      const file = `${options.probeDir}/.health-probe`
      yield* fs.makeDirectory(options.probeDir, { recursive: true })
      const handle = yield* fs.open(file, { flag: "w" })
      yield* handle.writeAll(new TextEncoder().encode("ok\n"))
      yield* handle.sync
      yield* fs.remove(file)
    })).pipe(Effect.mapError((error) => `${options.probeDir}: ${describe(error)}`)))

    const checks: Array<HealthGate.Check> = [servicesUp, network, dataWritable]
    if (listed("containerd")) {
      checks.push(check("containerd", whilePresent("containerd", Effect.flatMap(sockets.canConnect(containerdSocket), (ok) => ok ? Effect.void : Effect.fail(`${containerdSocket} refuses connections`)))))
    }
    if (listed("kubelet")) checks.push(check("kubelet", whilePresent("kubelet", httpGet(client, kubeletHealthz))))
    for (const http of options.http) {
      checks.push({ name: http.name, required: http.required, timeoutMillis: http.timeoutMillis, run: httpGet(client, http.url) })
    }
    return checks as ReadonlyArray<HealthGate.Check>
  })
