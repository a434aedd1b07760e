/**
 * Provisioning from `ds=nocloud;s=http://…` on the kernel command line, as on a PXE or cloud
 * install without a seed disk: keel-init takes a DHCP lease for the moment, fetches meta-data,
 * network-config and user-data (with the node's PKI) from a web server on the host (QEMU's
 * 10.0.2.2), releases the lease, applies the seed, and the host reaches the agent with the
 * certificate the seed carried; the agent watches the update channel the seed named. A second boot with the same command line fetches it again and
 * finds the instance applied.
 */
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Layer, Schedule } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import { Pki } from "@keelos/pki"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import { image, resultsDir } from "../src/Image.ts"
import { accelerator, freePort, overlay, Vm } from "../src/Qemu.ts"

const results = resultsDir("seed-http")
let server: http.Server
let seedPort = 0
let apiPort = 0
const requests: Array<string> = []
let ca: Pki.CertifiedKey
let reader: Pki.CertifiedKey
let documents: Record<string, string> = {}

const call = <A, E>(f: (client: NodeApiClient.NodeApiClient["Service"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(
    Effect.tryPromise(() =>
      Effect.runPromiseExit(
        Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, f)).pipe(
          Effect.provide(NodeApiClient.NodeApiClient.layer(`https://127.0.0.1:${apiPort}/rpc`).pipe(Layer.provide(NodeMtlsClient.layer({ ca: ca.cert, ...reader })))),
          Effect.timeout("20 seconds")
        )
      ).then((exit) => (Exit.isSuccess(exit) ? exit.value : Promise.reject(exit)))
    ).pipe(Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 180 }))
  )

beforeAll(async () => {
  const node = await Effect.runPromise(Effect.gen(function*() {
    ca = yield* Pki.makeCa({ name: "vm-test cluster", days: 30 })
    reader = yield* Pki.issue(ca, { usage: "client", commonName: "rita", organization: "os:reader" }, 30)
    return yield* Pki.issue(ca, { usage: "server", commonName: "seeded-node", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "10.0.2.15"] }, 30)
  }))
  server = http.createServer((request, response) => {
    requests.push(request.url ?? "")
    const name = (request.url ?? "").replace(/^\/seeds\/node\//, "")
    const body = documents[name]
    response.writeHead(body === undefined ? 404 : 200, { "content-type": "text/plain" }).end(body ?? "")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  seedPort = (server.address() as net.AddressInfo).port
  const indent = (pem: string) => pem.trim().split("\n").map((line) => `      ${line}`).join("\n")
  documents = {
    "meta-data": "instance-id: http-seeded-1\nlocal-hostname: seeded-node\n",
    "network-config": "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
    "user-data": [
      "#cloud-config",
      "keelos:",
      "  pki:",
      "    ca: |",
      indent(ca.cert),
      "    certificate: |",
      indent(node.cert),
      "    key: |",
      indent(node.key),
      "  update:",
      `    source: http://10.0.2.2:${seedPort}/channel/latest.json`,
      "    jitter_minutes: 0",
      ""
    ].join("\n")
  }
  apiPort = await freePort()
}, 600_000)

afterAll(() => server?.close())

describe(`a node provisioned from ds=nocloud over HTTP (${accelerator()})`, () => {
  it("fetches its seed over a lease of the moment, applies it, and answers with the seed's certificate; a second boot finds it applied", async () => {
    const built = image()
    const disk = overlay(built.disk, path.join(results, "disk.qcow2"))
    const append = `console=ttyS0 panic=-1 quiet keel.slot=A ds=nocloud;s=http://10.0.2.2:${seedPort}/seeds/node/`
    const boot = (name: string) =>
      new Vm({ name, resultsDir: results, disk, boot: { _tag: "Direct", kernel: built.kernel, initrd: built.initrd, append }, forwards: [{ host: apiPort, guest: NodeApi.defaultPort }] })
    const first = boot("first")
    try {
      await first.waitFor(new RegExp(`keel-init: seed: fetching the seed from http://10\\.0\\.2\\.2:${seedPort}/seeds/node/ over a DHCP lease`), 120_000)
      await first.waitFor(/keel-init: seed: dhcp: eth0 10\.0\.2\.15\/24 released; address and routes removed/, 120_000)
      await first.waitFor(
        new RegExp(`keel-init: seed: applied instance http-seeded-1 from http://10\\.0\\.2\\.2:${seedPort}/seeds/node/: node PKI, 1 interface\\(s\\), update channel http://10\\.0\\.2\\.2:${seedPort}/channel/latest\\.json \\(check\\), hostname seeded-node`),
        60_000
      )
      expect(requests.slice(0, 3)).toEqual(["/seeds/node/meta-data", "/seeds/node/network-config", "/seeds/node/user-data"])
      const status = await call((c) => c.GetStatus())
      expect([status.hostname, status.certificate.commonName]).toEqual(["seeded-node", "seeded-node"])
      const network = await call((c) => c.GetNetworkStatus())
      expect(network.dhcp).toMatchObject([{ link: "eth0", state: "bound", address: "10.0.2.15/24" }])
      // The agent watches the channel the seed named (the image names none): its first check asks this server.
      for (let i = 0; i < 60 && !requests.includes("/channel/latest.json"); i++) await new Promise((r) => setTimeout(r, 1000))
      expect(requests).toContain("/channel/latest.json")
      // The seed's files were written synced: a power cut keeps them.
      await first.powerCut()
    } finally {
      first.kill()
    }
    const second = boot("second")
    try {
      await second.waitFor(/keel-init: seed: instance http-seeded-1 from http:\/\/10\.0\.2\.2:\d+\/seeds\/node\/ is applied already/, 120_000)
      // The lease of the first boot (kept on the data partition) is asked for again, without discovery.
      await second.waitFor(/keel-init: network: eth0 10\.0\.2\.15\/24 via 10\.0\.2\.2 from 10\.0\.2\.2/, 60_000)
      expect(second.lines.some((l) => l.text.startsWith("keel-init: network: eth0: offered"))).toBe(false)
      const status = await call((c) => c.GetStatus())
      expect(status.hostname).toBe("seeded-node")
    } finally {
      second.kill()
    }
  })
})
