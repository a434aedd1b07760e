/**
 * `osctl bootstrap`: first trust for a node provisioned with a one-time token and no CA. osctl
 * reads the certificate the node presents, asks for the node's public key and proof (and checks
 * the proof, so it knows the node holds the token), signs a node certificate for that key with the
 * cluster CA, and sends the CA and the certificate with its own proof. The node's key never leaves
 * the node. `osctl gen token` makes a token for the provisioning config.
 */
import { X509Certificate } from "node:crypto"
import { Console, Effect, FileSystem, Layer, Path, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { RpcClient, type RpcClientError, RpcSerialization } from "effect/rpc"
import { BootstrapApi, NodeApi } from "@keelos/api"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import * as NodeTlsProbe from "@keelos/platform-node/NodeTlsProbe"
import { print } from "../Output.ts"
import { osctl } from "./root.ts"

export class BootstrapError extends Schema.TaggedError<BootstrapError>()("BootstrapError", { node: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `${this.node}: ${this.reason}`
  }
}

const list = (value: string) => value.split(",").map((v) => v.trim()).filter((v) => v.length > 0)

const hostAndPort = (endpoint: string) => {
  const url = new URL(`https://${endpoint.includes(":") && !endpoint.startsWith("[") && endpoint.split(":").length === 2 ? endpoint : `${endpoint}:${NodeApi.defaultPort}`}`)
  return { host: url.hostname, port: Number(url.port) }
}

export const bootstrap = Command.make(
  "bootstrap",
  {
    node: Flag.String("node").pipe(Flag.withDescription("The node to bootstrap (host or host:port)")),
    token: Flag.String("token").pipe(Flag.withDescription("The one-time token in the node's provisioning config")),
    caDir: Flag.String("ca-dir").pipe(Flag.withDescription("Directory holding the cluster's ca.crt and ca.key"), Flag.withDefault(".")),
    name: Flag.String("name").pipe(Flag.withDescription("The node's name (its certificate's CN)"), Flag.withDefault("node")),
    ip: Flag.String("ip").pipe(Flag.withDescription("IP addresses the node is reached at, comma separated"), Flag.withDefault("")),
    dns: Flag.String("dns").pipe(Flag.withDescription("DNS names the node is reached at, comma separated"), Flag.withDefault("")),
    days: Flag.Int("days").pipe(Flag.withDescription("Validity of the node certificate in days"), Flag.withDefault(365))
  },
  (o) =>
    Effect.gen(function*() {
      const fail = (reason: string) => new BootstrapError({ node: o.node, reason })
      if (!BootstrapApi.isStrongToken(o.token)) return yield* fail("a bootstrap token is 32 to 128 lowercase hex digits (osctl gen token)")
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const read = (file: string) => Effect.mapError(fs.readFileString(path.join(o.caDir, file)), () => fail(`cannot read ${path.join(o.caDir, file)}`))
      const ca = { cert: yield* read("ca.crt"), key: yield* read("ca.key") }
      const { host, port } = hostAndPort(o.node)
      const presented = yield* NodeTlsProbe.peerCertificate(host, port)
      const shown = new X509Certificate(presented.pem)
      if (shown.issuer !== shown.subject) {
        return yield* fail(`the node presents a certificate issued by a CA (${shown.issuer.replace(/\n/g, ", ")}): it is bootstrapped already; reach it with osctl config add`)
      }
      const call = <A, E>(f: (c: RpcClient.FromGroup<typeof BootstrapApi.BootstrapApi, RpcClientError.RpcClientError>) => Effect.Effect<A, E>) =>
        Effect.scoped(Effect.flatMap(RpcClient.make(BootstrapApi.BootstrapApi), f)).pipe(
          Effect.provide(RpcClient.layerProtocolHttp({ url: `https://${host.includes(":") ? `[${host}]` : host}:${port}/rpc` }).pipe(
            Layer.provide([RpcSerialization.layerNdjson, NodeMtlsClient.layer({ ca: presented.pem, pinned: true })])
          )),
          Effect.timeout("30 seconds")
        )
      const info = yield* call((c) => c.GetBootstrapInfo())
      if (info.certificateSha256 !== presented.sha256) return yield* fail("the node answered with another certificate than the one it presented")
      if (!BootstrapApi.proofMatches(info.proof, BootstrapApi.proof(o.token, "node", presented.sha256))) {
        return yield* fail("the node's proof does not match the token: wrong token, or not the node you think (someone in the middle)")
      }
      const { Pki } = yield* Effect.promise(() => import("@keelos/pki"))
      const certificate = yield* Pki.issueFor(ca, { usage: "server", commonName: o.name, ipAddresses: list(o.ip), dnsNames: list(o.dns) }, o.days, info.publicKey)
      const result = yield* call((c) => c.InitBootstrap({ proof: BootstrapApi.proof(o.token, "client", presented.sha256), ca: ca.cert, certificate }))
      const { output } = yield* osctl
      yield* print(output, { node: o.node, ...result }, () =>
        `${o.node} bootstrapped: it trusts your cluster CA and serves ${result.commonName}; it restarts its API with mutual TLS now`)
    })
).pipe(Command.withDescription(
  "Give a node its first trust: the cluster CA and its certificate, authenticated by its one-time token\n\nExample: osctl bootstrap --node 10.0.0.5 --token $(cat token) --ca-dir pki --name node-1 --ip 10.0.0.5"
))

export const token = Command.make("token", {}, () =>
  Effect.gen(function*() {
    const value = yield* NodeTlsProbe.randomToken
    const { output } = yield* osctl
    yield* output === "text" ? Console.log(value) : print(output, { token: value }, () => value)
  })).pipe(Command.withDescription("Make a one-time bootstrap token for a node's provisioning config"))
