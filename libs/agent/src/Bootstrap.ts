/**
 * The agent's first-trust mode (see BootstrapApi for the protocol). Entered only while the node has
 * no cluster CA and its provisioning config holds a one-time token. The node's key is made here
 * once and kept (so a restart mid-bootstrap keeps the same identity); InitBootstrap is accepted
 * exactly once, after which the CA, the node certificate are stored, the token is deleted, and
 * `done` tells the agent to restart into the node API. Every call is audited.
 */
import { createHash, X509Certificate } from "node:crypto"
import { Cause, Clock, Deferred, Effect, Exit, FileSystem, Layer, Option, Path, Ref, Semaphore } from "effect"
import { HttpRouter } from "effect/http"
import { RpcSerialization, RpcServer } from "effect/rpc"
import { BootstrapApi } from "@keelos/api"
import { AtomicFile } from "@keelos/store"
import { Audit, summarize } from "./Audit.ts"
import { type Files, problem, summarize as summarizeCertificate } from "./NodeCertificate.ts"

export interface Identity {
  readonly token: string
  /** The node's private key (PKCS#8 PEM) and public key (SPKI PEM). */
  readonly key: string
  readonly publicKey: string
  /** The self-signed certificate served in bootstrap mode. */
  readonly cert: string
}

export const certificateSha256 = (pem: string): string => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex")

const refuse = (reason: string) => new BootstrapApi.BootstrapRefused({ reason })

export const handlers = (identity: Identity, files: Files & { readonly tokenFile: string }, done: Deferred.Deferred<void>) =>
  BootstrapApi.BootstrapApi.toLayer(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const audit = yield* Audit
    const consumed = yield* Ref.make(false)
    const lock = yield* Semaphore.make(1)
    const sha256 = certificateSha256(identity.cert)

    const audited = <A>(operation: string, payload: unknown, effect: Effect.Effect<A, BootstrapApi.BootstrapRefused>) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(effect)
        const finished = yield* Clock.currentTimeMillis
        yield* audit.record({
          atMillis: started,
          commonName: "",
          role: "bootstrap token",
          operation,
          arguments: summarize(payload),
          result: Exit.isSuccess(exit) ? "ok" : `refused: ${Option.match(Cause.findErrorOption(exit.cause), { onNone: () => "error", onSome: (e) => e.reason })}`,
          durationMillis: finished - started
        })
        return yield* exit
      })

    const store = (ca: string, certificate: string) =>
      Effect.gen(function*() {
        const encode = (text: string) => new TextEncoder().encode(text)
        // The CA goes last: its presence is what says "bootstrapped" at the next start.
        yield* AtomicFile.write(files.certFile, encode(certificate))
        yield* AtomicFile.write(files.caFile, encode(ca))
        yield* fs.remove(files.tokenFile, { force: true })
      }).pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path), Effect.mapError((error) => refuse(`storing the PKI: ${error.message}`)))

    return BootstrapApi.BootstrapApi.of({
      GetBootstrapInfo: () =>
        audited("GetBootstrapInfo", {}, Effect.succeed({ publicKey: identity.publicKey, certificateSha256: sha256, proof: BootstrapApi.proof(identity.token, "node", sha256) })),
      InitBootstrap: (payload) =>
        audited("InitBootstrap", payload, lock.withPermits(1)(Effect.gen(function*() {
          if (yield* Ref.get(consumed)) return yield* refuse("this node is already bootstrapped")
          if (!BootstrapApi.proofMatches(payload.proof, BootstrapApi.proof(identity.token, "client", sha256))) {
            return yield* refuse("the proof does not match this node's token and the certificate it presents (wrong token, or someone in the middle)")
          }
          let authority: X509Certificate
          try {
            authority = new X509Certificate(payload.ca)
          } catch {
            return yield* refuse("the CA is not a PEM certificate")
          }
          if (!authority.ca) return yield* refuse("the CA certificate is not a CA")
          const why = problem(payload.ca, { cert: payload.certificate, key: identity.key }, yield* Clock.currentTimeMillis)
          if (why !== undefined) return yield* refuse(why)
          yield* store(payload.ca, payload.certificate)
          yield* Ref.set(consumed, true)
          yield* Deferred.succeed(done, undefined)
          return summarizeCertificate(payload.certificate)!
        })))
    })
  }))

/** Serves BootstrapApi on POST /rpc; needs the handlers and a TLS server without client certificates. */
export const serverLayer = HttpRouter.serve(
  HttpRouter.use((router) => Effect.flatMap(RpcServer.toHttpEffect(BootstrapApi.BootstrapApi), (rpc) => router.add("POST", "/rpc", rpc))),
  { disableLogger: true, disableListenLog: true }
).pipe(Layer.provide(RpcSerialization.layerNdjson))
