/**
 * The agent's own certificate: what it is now, and rotating it while the agent runs. A new pair is
 * checked first (a certificate for this key, signed by the cluster CA, valid now, not a CA), then
 * written crash-safely (key and certificate to `.next` files, synced, then renamed key first), then
 * handed to the TLS server; connections open meanwhile keep the old one. A crash between the two
 * renames leaves the new key beside a `.next` certificate, which `recover` completes at start.
 */
import { createPrivateKey, X509Certificate } from "node:crypto"
import { Clock, Context, Effect, FileSystem, Layer, Path, Ref, Semaphore } from "effect"
import { NodeApi } from "@keelos/api"
import { TlsCredentials } from "@keelos/platform"
import { AtomicFile } from "@keelos/store"

export interface Files {
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

export interface Summary {
  readonly commonName: string
  readonly notAfterMillis: number
}

const next = (file: string) => `${file}.next`

/** The last certificate summarized: the agent's start asks about the same one twice (an X.509 parse takes tens of ms under TCG). */
let last: { readonly pem: string; readonly summary: Summary | undefined } | undefined

/** The CN and expiry of a PEM certificate; undefined when it is not one. */
export const summarize = (pem: string): Summary | undefined => {
  if (last?.pem === pem) return last.summary
  let summary: Summary | undefined
  try {
    const certificate = new X509Certificate(pem)
    summary = { commonName: /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1] ?? "", notAfterMillis: Date.parse(certificate.validTo) }
  } catch {
    summary = undefined
  }
  last = { pem, summary }
  return summary
}

/** Why `pair` cannot be this node's certificate, or undefined when it can. */
export const problem = (ca: string, pair: { readonly cert: string; readonly key: string }, nowMillis: number): string | undefined => {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(pair.cert)
  } catch {
    return "the certificate is not a PEM certificate"
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(pair.key))) return "the key does not belong to the certificate"
  } catch {
    return "the key is not a PEM private key"
  }
  const authority = new X509Certificate(ca)
  if (!certificate.checkIssued(authority) || !certificate.verify(authority.publicKey)) return "the certificate is not signed by the cluster CA"
  if (certificate.ca) return "the certificate is a CA certificate"
  if (Date.parse(certificate.validTo) <= nowMillis) return `the certificate expired on ${certificate.validTo}`
  if (Date.parse(certificate.validFrom) > nowMillis + 5 * 60_000) return `the certificate is not valid before ${certificate.validFrom}`
  return undefined
}

const keyMatches = (cert: string, key: string) => {
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))
  } catch {
    return false
  }
}

/** Completes a rotation a crash interrupted between its two renames. Returns whether there was one. */
export const recover = Effect.fn("NodeCertificate.recover")(function*(files: Files) {
  const fs = yield* FileSystem.FileSystem
  if (!(yield* Effect.orElseSucceed(fs.exists(next(files.certFile)), () => false))) return false
  const pending = yield* Effect.orElseSucceed(fs.readFileString(next(files.certFile)), () => "")
  const key = yield* Effect.orElseSucceed(fs.readFileString(files.keyFile), () => "")
  if (keyMatches(pending, key)) {
    yield* Effect.orDie(fs.rename(next(files.certFile), files.certFile))
    return true
  }
  // The key was never replaced: the old pair is whole; drop what was left half-written.
  yield* Effect.ignore(fs.remove(next(files.certFile)))
  yield* Effect.ignore(fs.remove(next(files.keyFile)))
  return false
})

export class NodeCertificate extends Context.Service<NodeCertificate, {
  readonly current: Effect.Effect<Summary>
  readonly rotate: (pair: { readonly cert: string; readonly key: string }) => Effect.Effect<Summary, NodeApi.NodeFailure>
}>()("@keelos/agent/NodeCertificate") {
  static readonly layer = (files: Files, initial: { readonly ca: string; readonly cert: string }) =>
    Layer.effect(NodeCertificate)(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const credentials = yield* TlsCredentials.TlsCredentials
      const current = yield* Ref.make<Summary>(summarize(initial.cert) ?? { commonName: "", notAfterMillis: 0 })
      // One rotation at a time: two at once could interleave their renames.
      const lock = yield* Semaphore.make(1)
      const failure = (reason: string) => new NodeApi.NodeFailure({ operation: "RotateCertificate", reason })
      const persist = (pair: { readonly cert: string; readonly key: string }) =>
        Effect.gen(function*() {
          const encode = (text: string) => new TextEncoder().encode(text)
          yield* AtomicFile.write(next(files.keyFile), encode(pair.key))
          yield* AtomicFile.write(next(files.certFile), encode(pair.cert))
          yield* fs.rename(next(files.keyFile), files.keyFile)
          yield* fs.rename(next(files.certFile), files.certFile)
          yield* Effect.scoped(Effect.flatMap(fs.open(path.dirname(files.certFile), { flag: "r" }), (handle) => handle.sync))
        }).pipe(
          Effect.provideService(FileSystem.FileSystem, fs),
          Effect.provideService(Path.Path, path),
          Effect.mapError((error) => failure(`writing the new certificate: ${error.message}`))
        )
      return NodeCertificate.of({
        current: Ref.get(current),
        rotate: (pair) =>
          lock.withPermits(1)(Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const why = problem(initial.ca, pair, now)
            if (why !== undefined) return yield* failure(why)
            yield* persist(pair)
            yield* Effect.mapError(credentials.replace(pair), (error) => failure(error.message))
            const summary = summarize(pair.cert)!
            yield* Ref.set(current, summary)
            return summary
          }))
      })
    }))
}
