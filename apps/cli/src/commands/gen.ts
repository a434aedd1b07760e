/**
 * `osctl gen`: the PKI of a cluster. A CA, client certificates whose Organization is the role
 * (os:admin, os:operator, os:reader), and node certificates naming the addresses the agent is
 * reached at. Keys are written 0600 and nothing is overwritten without --force.
 */
import { Console, Effect, FileSystem, Path, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { NodeApi } from "@keelos/api"
import type { Pki } from "@keelos/pki"
import { print } from "../Output.ts"
import { token } from "./bootstrap.ts"
import { osctl } from "./root.ts"

export class GenError extends Schema.TaggedError<GenError>()("GenError", { path: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

/** The PKI library (X.509 and ASN.1 code) loads only when a gen command runs, so other commands start fast. */
const loadPki = Effect.promise(() => import("@keelos/pki")).pipe(Effect.map((module) => module.Pki))

const out = Flag.String("out").pipe(Flag.withDescription("Directory to write into"), Flag.withDefault("."))
const force = Flag.Boolean("force").pipe(Flag.withDescription("Overwrite existing files"), Flag.withDefault(false))
const caDir = Flag.String("ca-dir").pipe(Flag.withDescription("Directory holding ca.crt and ca.key"), Flag.withDefault("."))
const days = (fallback: number) => Flag.Int("days").pipe(Flag.withDescription("Validity in days"), Flag.withDefault(fallback))

const write = Effect.fn("gen.write")(function*(dir: string, name: string, pair: Pki.CertifiedKey, overwrite: boolean) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const certFile = path.join(dir, `${name}.crt`)
  const keyFile = path.join(dir, `${name}.key`)
  for (const file of [certFile, keyFile]) {
    if (!overwrite && (yield* Effect.orElseSucceed(fs.exists(file), () => false))) {
      return yield* new GenError({ path: file, reason: "exists; pass --force to replace it" })
    }
  }
  const failed = (file: string) => (e: { readonly message: string }) => new GenError({ path: file, reason: e.message })
  yield* Effect.mapError(fs.makeDirectory(dir, { recursive: true }), failed(dir))
  yield* Effect.mapError(fs.writeFileString(keyFile, pair.key, { mode: 0o600 }), failed(keyFile))
  yield* Effect.mapError(fs.chmod(keyFile, 0o600), failed(keyFile))
  yield* Effect.mapError(fs.writeFileString(certFile, pair.cert, { mode: 0o644 }), failed(certFile))
  return { cert: certFile, key: keyFile }
})

const readCa = Effect.fn("gen.readCa")(function*(dir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const read = (file: string) =>
    Effect.mapError(fs.readFileString(path.join(dir, file)), () =>
      new GenError({ path: path.join(dir, file), reason: "cannot read it: make a CA first with osctl gen ca, or pass --ca-dir" }))
  return { cert: yield* read("ca.crt"), key: yield* read("ca.key") }
})

const report = (files: { readonly cert: string; readonly key: string }, info: Pki.CertificateInfo) =>
  Effect.gen(function*() {
    const { output } = yield* osctl
    yield* print(output, { ...files, commonName: info.commonName, organizations: info.organizations, notAfterMillis: info.notAfterMillis }, () =>
      `wrote ${files.cert} and ${files.key} (0600) for ${info.commonName}${info.organizations.length > 0 ? ` (${info.organizations.join(",")})` : ""}`)
  })

const list = (value: string) => value.split(",").map((v) => v.trim()).filter((v) => v.length > 0)

const ca = Command.make("ca", { name: Flag.String("name").pipe(Flag.withDefault("keelos cluster CA")), days: days(3650), out, force }, (o) =>
  Effect.gen(function*() {
    const Pki = yield* loadPki
    const pair = yield* Pki.makeCa({ name: o.name, days: o.days })
    yield* report(yield* write(o.out, "ca", pair, o.force), yield* Pki.inspect(pair.cert))
  })).pipe(Command.withDescription("Make a cluster CA (ca.crt, ca.key)\n\nExample: osctl gen ca --out ./pki"))

const cert = Command.make(
  "cert",
  {
    role: Flag.Literals("role", NodeApi.roles).pipe(Flag.withDescription("os:admin, os:operator or os:reader")),
    name: Flag.String("name").pipe(Flag.withDescription("Who holds it (the certificate's CN; shows in the audit log)")),
    days: days(365),
    caDir,
    out,
    force
  },
  (o) =>
    Effect.gen(function*() {
      const Pki = yield* loadPki
      const pair = yield* Pki.issue(yield* readCa(o.caDir), { usage: "client", commonName: o.name, organization: o.role }, o.days)
      yield* report(yield* write(o.out, o.name, pair, o.force), yield* Pki.inspect(pair.cert))
    })
).pipe(Command.withDescription("Issue a client certificate carrying a role\n\nExample: osctl gen cert --role os:admin --name alice --ca-dir ./pki --out ./pki"))

const nodeCert = Command.make(
  "node-cert",
  {
    ip: Flag.String("ip").pipe(Flag.withDescription("IP addresses the agent is reached at, comma separated"), Flag.withDefault("")),
    dns: Flag.String("dns").pipe(Flag.withDescription("DNS names the agent is reached at, comma separated"), Flag.withDefault("")),
    name: Flag.String("name").pipe(Flag.withDescription("The node's name (CN)"), Flag.withDefault("node")),
    days: days(365),
    caDir,
    out,
    force
  },
  (o) =>
    Effect.gen(function*() {
      const Pki = yield* loadPki
      const request = { usage: "server" as const, commonName: o.name, ipAddresses: list(o.ip), dnsNames: list(o.dns) }
      const pair = yield* Pki.issue(yield* readCa(o.caDir), request, o.days)
      const files = yield* write(o.out, o.name, pair, o.force)
      yield* report(files, yield* Pki.inspect(pair.cert))
      const { output } = yield* osctl
      if (output === "text") yield* Console.log(`install it on the node as /var/lib/keel/pki/node.crt and node.key, with ca.crt`)
    })
).pipe(Command.withDescription("Issue a node's agent certificate\n\nExample: osctl gen node-cert --ip 10.0.0.5 --dns node-1.lan --name node-1 --ca-dir ./pki"))

export const gen = Command.make("gen").pipe(Command.withDescription("Make the cluster PKI"), Command.withSubcommands([ca, cert, nodeCert, token]))
