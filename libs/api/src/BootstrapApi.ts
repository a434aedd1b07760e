/**
 * First trust: how a node that has no cluster CA yet gets one. Served by keel-agent instead of the
 * node API while the node has no CA and its provisioning config holds a one-time token; TLS with the
 * node's self-signed certificate, no client certificate.
 *
 * Neither side can check the other's certificate yet, so both prove they hold the token, bound to
 * the certificate this very TLS session shows: `proof(token, role, sha256 of the node's certificate)`.
 * A machine in the middle presents its own certificate, so a proof made for it is worthless to the
 * real node, and it cannot make one for the real node without the token. The node's key never
 * leaves the node: the operator signs the node's public key.
 *
 * 1. GetBootstrapInfo: the node's public key, its certificate's SHA-256, and the node's proof.
 *    The client checks the proof before it trusts anything else in the answer.
 * 2. InitBootstrap (exactly once): the client's proof, the cluster CA, and the node's certificate
 *    for that public key. The node checks all of it, stores it, forgets the token, and restarts
 *    into the node API with mutual TLS. It never serves bootstrap again.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"

export const BootstrapInfo = Schema.Struct({
  /** The node's public key (SPKI PEM), for the operator to sign. */
  publicKey: Schema.String,
  /** SHA-256 (hex) of the certificate the node presents in bootstrap mode. */
  certificateSha256: Schema.String,
  /** proof(token, "node", certificateSha256): the node holds the token. */
  proof: Schema.String
})
export type BootstrapInfo = typeof BootstrapInfo.Type

export class BootstrapRefused extends Schema.TaggedError<BootstrapRefused>()("BootstrapRefused", { reason: Schema.String }) {
  override get message(): string {
    return `bootstrap refused: ${this.reason}`
  }
}

const pem = Schema.String.check(Schema.isMaxLength(65536))

export class BootstrapApi extends RpcGroup.make(
  Rpc.make("GetBootstrapInfo", { success: BootstrapInfo, error: BootstrapRefused }),
  Rpc.make("InitBootstrap", {
    payload: { proof: Schema.String.check(Schema.isMaxLength(128)), ca: pem, certificate: pem },
    success: Schema.Struct({ commonName: Schema.String, notAfterMillis: Schema.Number }),
    error: BootstrapRefused
  })
) {}

/** HMAC-SHA256 of the role and the certificate hash under the token, hex. */
export const proof = (token: string, role: "node" | "client", certificateSha256: string): string =>
  createHmac("sha256", token).update(`keelos-bootstrap-v1:${role}:${certificateSha256.toLowerCase()}`).digest("hex")

/** Constant-time comparison of a received proof with the expected one. */
export const proofMatches = (received: string, expected: string): boolean => {
  const a = Buffer.from(received, "utf8")
  const b = Buffer.from(expected, "utf8")
  return a.length === b.length && timingSafeEqual(a, b)
}

/** A token must carry at least 128 bits: 32 hex digits or more. */
export const isStrongToken = (token: string): boolean => /^[0-9a-f]{32,128}$/.test(token)
