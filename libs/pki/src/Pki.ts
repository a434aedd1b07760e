/**
 * The PKI of the node API, made in-process with WebCrypto and @peculiar/x509 (no openssl on a
 * node): a cluster CA, client certificates whose Organization is the caller's role, and node
 * certificates naming the addresses the agent is reached at. Keys are ECDSA P-256; validity starts
 * a minute before the Clock's now, so a node whose clock lags a little still accepts a new cert.
 */
import "reflect-metadata"
import * as x509 from "@peculiar/x509"
import type { webcrypto } from "node:crypto"
import { Clock, Effect, Schema } from "effect"

x509.cryptoProvider.set(globalThis.crypto)

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const
const dayMillis = 24 * 3600_000
const skewMillis = 60_000

export class PkiError extends Schema.TaggedError<PkiError>()("PkiError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: ${this.reason}`
  }
}

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  readonly cert: string
  readonly key: string
}

/** What a certificate says about its holder. */
export interface CertificateInfo {
  readonly commonName: string
  readonly organizations: ReadonlyArray<string>
  readonly issuer: string
  readonly serial: string
  readonly notBeforeMillis: number
  readonly notAfterMillis: number
  readonly isCa: boolean
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
  readonly fingerprintSha256: string
}

const attempt = <A>(operation: string, f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (error) => new PkiError({ operation, reason: error instanceof Error ? error.message : String(error) })
  })

type WebKey = webcrypto.CryptoKey

const generateKeys = () =>
  globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as Promise<{ publicKey: WebKey; privateKey: WebKey }>

const keyPem = async (key: WebKey) =>
  x509.PemConverter.encode(await globalThis.crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY")

const importSigningKey = (pem: string) =>
  globalThis.crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(pem), algorithm, true, ["sign"])

const validity = (nowMillis: number, days: number) => ({
  notBefore: new Date(nowMillis - skewMillis),
  notAfter: new Date(nowMillis + days * dayMillis)
})

/** Quote a value for an X.500 name string (`CN=..., O=...`). */
const escapeName = (value: string) => value.replace(/([,+"\\<>;=])/g, "\\$1")

const checkName = (operation: string, label: string, value: string) =>
  value.trim().length === 0 || value.length > 64
    ? Effect.fail(new PkiError({ operation, reason: `${label} must be 1 to 64 characters, got ${JSON.stringify(value)}` }))
    : Effect.void

const checkDays = (operation: string, days: number) =>
  Number.isInteger(days) && days >= 1 && days <= 36_500
    ? Effect.void
    : Effect.fail(new PkiError({ operation, reason: `validity must be a whole number of days from 1 to 36500, got ${days}` }))

/** A self-signed CA that may sign leaf certificates only (path length 0). */
export const makeCa = Effect.fn("Pki.makeCa")(function*(options: { readonly name: string; readonly days: number }) {
  yield* checkName("make CA", "CA name", options.name)
  yield* checkDays("make CA", options.days)
  const now = yield* Clock.currentTimeMillis
  return yield* attempt("make CA", async (): Promise<CertifiedKey> => {
    const keys = await generateKeys()
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${escapeName(options.name)}`,
      keys,
      signingAlgorithm: algorithm,
      ...validity(now, options.days),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
      ]
    })
    return { cert: certificate.toString("pem"), key: await keyPem(keys.privateKey) }
  })
})

export type LeafRequest =
  | { readonly usage: "client"; readonly commonName: string; readonly organization: string }
  | {
    readonly usage: "server"
    readonly commonName: string
    readonly dnsNames: ReadonlyArray<string>
    readonly ipAddresses: ReadonlyArray<string>
  }

const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/
const ipv6 = /^[0-9a-fA-F:]+$/
const hostname = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/

const checkSans = (request: LeafRequest) => {
  if (request.usage === "client") return Effect.void
  const badIp = request.ipAddresses.find((ip) => !ipv4.test(ip) && !(ip.includes(":") && ipv6.test(ip)))
  if (badIp !== undefined) return Effect.fail(new PkiError({ operation: "issue certificate", reason: `${JSON.stringify(badIp)} is not an IP address` }))
  const badName = request.dnsNames.find((name) => !hostname.test(name))
  if (badName !== undefined) return Effect.fail(new PkiError({ operation: "issue certificate", reason: `${JSON.stringify(badName)} is not a DNS name` }))
  if (request.ipAddresses.length + request.dnsNames.length === 0) {
    return Effect.fail(new PkiError({ operation: "issue certificate", reason: "a node certificate needs at least one IP address or DNS name" }))
  }
  return Effect.void
}

const subjectOf = (request: LeafRequest) =>
  request.usage === "client"
    ? `CN=${escapeName(request.commonName)}, O=${escapeName(request.organization)}`
    : `CN=${escapeName(request.commonName)}`

const leafExtensions = async (request: LeafRequest) => {
  const sans: Array<x509.JsonGeneralName> = request.usage === "server"
    ? [
      ...request.dnsNames.map((value) => ({ type: "dns" as const, value })),
      ...request.ipAddresses.map((value) => ({ type: "ip" as const, value }))
    ]
    : []
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      request.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth
    ]),
    ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : [])
  ]
}

const checkLeaf = (request: LeafRequest, days: number) =>
  Effect.gen(function*() {
    yield* checkName("issue certificate", "common name", request.commonName)
    if (request.usage === "client") yield* checkName("issue certificate", "organization", request.organization)
    yield* checkSans(request)
    yield* checkDays("issue certificate", days)
  })

/** Signs a leaf certificate for `publicKey` with `ca`. */
const certify = (ca: CertifiedKey, request: LeafRequest, days: number, publicKey: WebKey) =>
  Effect.gen(function*() {
    const caInfo = yield* inspect(ca.cert)
    if (!caInfo.isCa) return yield* new PkiError({ operation: "issue certificate", reason: "the signing certificate is not a CA" })
    const now = yield* Clock.currentTimeMillis
    return yield* attempt("issue certificate", async () => {
      const caCertificate = new x509.X509Certificate(ca.cert)
      const certificate = await x509.X509CertificateGenerator.create({
        subject: subjectOf(request),
        issuer: caCertificate.subject,
        publicKey,
        signingKey: await importSigningKey(ca.key),
        signingAlgorithm: algorithm,
        ...validity(now, days),
        extensions: [...await leafExtensions(request), await x509.AuthorityKeyIdentifierExtension.create(caCertificate)]
      })
      return certificate.toString("pem")
    })
  })

/** A leaf certificate signed by `ca`, with a new key: for a client (its role as Organization) or for a node's agent. */
export const issue = Effect.fn("Pki.issue")(function*(ca: CertifiedKey, request: LeafRequest, days: number) {
  yield* checkLeaf(request, days)
  const keys = yield* attempt("issue certificate", generateKeys)
  const cert = yield* certify(ca, request, days, keys.publicKey)
  const key = yield* attempt("issue certificate", () => keyPem(keys.privateKey))
  return { cert, key } satisfies CertifiedKey
})

/** A leaf certificate signed by `ca` for a key someone else holds (given as an SPKI PEM public key). */
export const issueFor = Effect.fn("Pki.issueFor")(function*(ca: CertifiedKey, request: LeafRequest, days: number, publicKeyPem: string) {
  yield* checkLeaf(request, days)
  const publicKey = yield* attempt("read public key", () =>
    globalThis.crypto.subtle.importKey("spki", x509.PemConverter.decodeFirst(publicKeyPem), algorithm, true, ["verify"]))
  return yield* certify(ca, request, days, publicKey)
})

/** A key pair: the private key (PKCS#8 PEM) and its public key (SPKI PEM). */
export const generateKeyPair = Effect.fn("Pki.generateKeyPair")(function*() {
  return yield* attempt("generate key", async () => {
    const keys = await generateKeys()
    const publicKey = x509.PemConverter.encode(await globalThis.crypto.subtle.exportKey("spki", keys.publicKey), "PUBLIC KEY")
    return { key: await keyPem(keys.privateKey), publicKey }
  })
})

/** A self-signed server certificate for a key pair made by generateKeyPair (a node not yet given its cluster's PKI). */
export const selfSigned = Effect.fn("Pki.selfSigned")(function*(pair: { readonly key: string; readonly publicKey: string }, commonName: string, days: number) {
  yield* checkName("self-sign", "common name", commonName)
  const now = yield* Clock.currentTimeMillis
  return yield* attempt("self-sign", async () => {
    const keys = {
      privateKey: await importSigningKey(pair.key),
      publicKey: await globalThis.crypto.subtle.importKey("spki", x509.PemConverter.decodeFirst(pair.publicKey), algorithm, true, ["verify"])
    }
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${escapeName(commonName)}`,
      keys,
      signingAlgorithm: algorithm,
      ...validity(now, days),
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)]
    })
    return certificate.toString("pem")
  })
})

/** Read what a PEM certificate says; a malformed one is a PkiError, never a throw. */
export const inspect = Effect.fn("Pki.inspect")(function*(pem: string) {
  return yield* attempt("read certificate", async (): Promise<CertificateInfo> => {
    const certificate = new x509.X509Certificate(pem)
    const constraints = certificate.getExtension(x509.BasicConstraintsExtension)
    const san = certificate.getExtension(x509.SubjectAlternativeNameExtension)
    const names = san?.names.toJSON() ?? []
    const thumbprint = new Uint8Array(await certificate.getThumbprint("SHA-256"))
    return {
      commonName: certificate.subjectName.getField("CN")[0] ?? "",
      organizations: certificate.subjectName.getField("O"),
      issuer: certificate.issuer,
      serial: certificate.serialNumber,
      notBeforeMillis: certificate.notBefore.getTime(),
      notAfterMillis: certificate.notAfter.getTime(),
      isCa: constraints?.ca ?? false,
      dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
      ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
      fingerprintSha256: [...thumbprint].map((b) => b.toString(16).padStart(2, "0")).join("")
    }
  })
})

/** Whether `cert` was signed by `ca`'s key (the chain the agent's TLS stack will check). */
export const signedBy = Effect.fn("Pki.signedBy")(function*(cert: string, ca: string) {
  return yield* attempt("verify certificate", () => new x509.X509Certificate(cert).verify({ publicKey: new x509.X509Certificate(ca), signatureOnly: true }))
})
