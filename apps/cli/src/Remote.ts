/**
 * Calling the node API from osctl: the context's credentials checked locally first (so an expired
 * or foreign client certificate is named before any connection), then the call on every node with
 * bounded concurrency, each node's outcome kept apart, and every failure classified into a case an
 * operator can act on: connection refused, TLS rejected and why, unauthorized, not available on
 * this node, or an error from the node.
 */
import { X509Certificate } from "node:crypto"
import { Clock, Console, Effect, Layer, Option, Schema } from "effect"
import { NodeApi, NodeApiClient } from "@keelos/api"
import * as NodeMtlsClient from "@keelos/platform-node/NodeMtlsClient"
import * as OsctlConfig from "./OsctlConfig.ts"
import { type Format, render } from "./Output.ts"
import { osctl } from "./commands/root.ts"

export const concurrency = 8

/** Flags that parse but make no sense together or out of range: exit code 2, like a parse error. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

export class CredentialsError extends Schema.TaggedError<CredentialsError>()("CredentialsError", {
  context: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `context ${this.context}: ${this.reason}`
  }
}

export type FailureKind = "connection" | "tls" | "unauthorized" | "not-available" | "node" | "timeout"

export interface NodeFailure {
  readonly kind: FailureKind
  readonly message: string
}

export type Outcome<A> = { readonly node: string; readonly result: A } | { readonly node: string; readonly error: NodeFailure }

export const exitCodes: Record<FailureKind, number> = { node: 1, "not-available": 3, unauthorized: 4, connection: 5, tls: 5, timeout: 5 }

const tlsReasons: Record<string, string> = {
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "the node requires a client certificate and none was sent",
  ECONNRESET: "the node closed the connection in the TLS handshake: it does not trust this client certificate (signed by another cluster CA, or expired)",
  SELF_SIGNED_CERT_IN_CHAIN: "the node's certificate is not signed by this context's CA",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the node's certificate is not signed by this context's CA",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the node's certificate is self-signed, not signed by this context's CA",
  CERT_HAS_EXPIRED: "the node's certificate has expired: rotate it",
  CERT_NOT_YET_VALID: "the node's certificate is not valid yet: check the clocks",
  ERR_TLS_CERT_ALTNAME_INVALID: "the node's certificate does not name this address: use an address it was issued for"
}

const connectionReasons: Record<string, string> = {
  ECONNREFUSED: "connection refused: is keel-agent running, and is port 50051 reachable?",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "name resolution failed"
}

/** What went wrong talking to one node, as one of the cases osctl tells apart. */
export const classify = (error: unknown): NodeFailure => {
  if (error instanceof NodeApi.Unauthorized) return { kind: "unauthorized", message: error.message }
  if (error instanceof NodeApi.NotAvailable) return { kind: "not-available", message: error.message }
  const tag = (error as { _tag?: unknown } | null)?._tag
  if (tag === "RpcClientError") {
    const { code, message } = NodeApiClient.transportCause(error)
    if (code !== undefined && tlsReasons[code] !== undefined) return { kind: "tls", message: `TLS handshake rejected: ${tlsReasons[code]}` }
    if (code !== undefined && connectionReasons[code] !== undefined) return { kind: "connection", message: connectionReasons[code] }
    if (code?.startsWith("ERR_SSL") === true) return { kind: "tls", message: `TLS failed: ${message}` }
    return { kind: "connection", message: `cannot talk to the node: ${code ?? ""} ${message}`.replace(/\s+/g, " ").trim() }
  }
  if (tag === "TimeoutError") return { kind: "timeout", message: "the node did not answer in time" }
  const message = (error as { message?: unknown } | null)?.message
  return { kind: "node", message: typeof message === "string" && message.length > 0 ? message : String(tag ?? error) }
}

/** Checks a context's client credentials before they are used. */
export const checkCredentials = Effect.fn("Remote.checkCredentials")(function*(name: string, context: OsctlConfig.Context) {
  const fail = (reason: string) => Effect.fail(new CredentialsError({ context: name, reason }))
  const parse = (pem: string, what: string) =>
    Effect.try({ try: () => new X509Certificate(pem), catch: () => new CredentialsError({ context: name, reason: `the ${what} is not a PEM certificate` }) })
  const ca = yield* parse(context.ca, "CA")
  const cert = yield* parse(context.cert, "client certificate")
  const now = yield* Clock.currentTimeMillis
  if (Date.parse(cert.validTo) < now) return yield* fail(`the client certificate expired on ${cert.validTo}: issue a new one with osctl gen cert`)
  if (Date.parse(cert.validFrom) > now) return yield* fail(`the client certificate is not valid before ${cert.validFrom}: check this machine's clock`)
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return yield* fail("the client certificate is not signed by the context's CA")
})

/** The nodes and credentials the shared flags and the config file select. */
export const target = Effect.gen(function*() {
  const flags = yield* osctl
  const file = OsctlConfig.defaultPath(Option.getOrUndefined(flags.osconfig), process.env)
  const config = yield* OsctlConfig.load(file)
  const { name, context } = yield* OsctlConfig.select(config, file, Option.getOrUndefined(flags.context))
  yield* checkCredentials(name, context)
  const nodes = Option.match(flags.nodes, { onNone: () => context.nodes, onSome: (list) => list.split(",").map((n) => n.trim()).filter((n) => n.length > 0) })
  if (nodes.length === 0) return yield* new CredentialsError({ context: name, reason: "no nodes: pass -n NODE or add nodes to the context" })
  return { output: flags.output, context, nodes }
})

/** Run `f` against one node with a context's credentials; the outcome, never a failure. */
export const callNode = <A, E>(
  context: OsctlConfig.Context,
  node: string,
  f: (client: NodeApiClient.NodeApiClient["Service"], node: string) => Effect.Effect<A, E>,
  options: { readonly timeoutSeconds?: number } = {}
): Effect.Effect<Outcome<A>> =>
  Effect.scoped(Effect.flatMap(NodeApiClient.NodeApiClient, (client) => f(client, node))).pipe(
    (call) => (options.timeoutSeconds === undefined ? call : Effect.timeout(call, `${options.timeoutSeconds} seconds`)),
    Effect.provide(NodeApiClient.NodeApiClient.layer(NodeApiClient.urlOf(node, NodeApi.defaultPort)).pipe(
      Layer.provide(NodeMtlsClient.layer({ ca: context.ca, cert: context.cert, key: context.key }))
    )),
    Effect.match({
      onSuccess: (result): Outcome<A> => ({ node, result }),
      onFailure: (error): Outcome<A> => ({ node, error: classify(error) })
    })
  )

/** Run `f` against every selected node; each node's outcome separately, in the order given. */
export const onNodes = <A, E>(
  f: (client: NodeApiClient.NodeApiClient["Service"], node: string) => Effect.Effect<A, E>,
  options: { readonly timeoutSeconds?: number } = {}
) =>
  Effect.gen(function*() {
    const { output, context, nodes } = yield* target
    const outcomes = yield* Effect.forEach(nodes, (node) => callNode(context, node, f, options), { concurrency })
    return { output, outcomes }
  })

/** Print every node's outcome (a section per node when there are several) and set the exit code. */
export const report = <A>(output: Format, outcomes: ReadonlyArray<Outcome<A>>, text: (result: A) => string) =>
  Effect.gen(function*() {
    if (output !== "text") {
      yield* Console.log(render(output, outcomes, () => ""))
    } else {
      for (const outcome of outcomes) {
        const heading = outcomes.length > 1 ? `== ${outcome.node}\n` : ""
        if ("result" in outcome) yield* Console.log(`${heading}${text(outcome.result)}`)
        else yield* Console.error(`${heading}${outcomes.length > 1 ? "" : `${outcome.node}: `}error: ${outcome.error.message}`)
      }
    }
    const worst = Math.max(0, ...outcomes.map((o) => ("error" in o ? exitCodes[o.error.kind] : 0)))
    if (worst > 0) yield* Effect.sync(() => void (process.exitCode = worst))
  })
