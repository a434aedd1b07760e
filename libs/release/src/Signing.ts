/**
 * Ed25519 signatures over the exact bytes of latest.json (DESIGN §4), and key identities: the first
 * 16 hex digits of the SHA-256 of the raw public key, which the metadata names so a node looks the
 * key up among the ones it trusts.
 */
import { createHash, createPrivateKey, createPublicKey, sign as edSign, verify as edVerify } from "node:crypto"

export interface TrustedKey {
  readonly id: string
  readonly development: boolean
  /** SPKI PEM. */
  readonly publicKey: string
}

/** The key id of an Ed25519 public key (SPKI PEM); throws on anything else. */
export const keyId = (publicKeyPem: string): string => {
  const key = createPublicKey(publicKeyPem)
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`not an Ed25519 key but ${key.asymmetricKeyType}`)
  return createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16)
}

/** The public key (SPKI PEM) of an Ed25519 private key (PKCS#8 PEM). */
export const publicKeyOf = (privateKeyPem: string): string => createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "pem" }).toString()

export const sign = (bytes: Uint8Array, privateKeyPem: string): Uint8Array => new Uint8Array(edSign(null, bytes, createPrivateKey(privateKeyPem)))

export const verify = (bytes: Uint8Array, signature: Uint8Array, publicKeyPem: string): boolean => {
  try {
    return edVerify(null, bytes, createPublicKey(publicKeyPem), signature)
  } catch {
    return false
  }
}
