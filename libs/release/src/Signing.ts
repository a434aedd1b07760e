/**
 * Ed25519 signatures over the exact bytes of latest.json (DESIGN §4), and key identities: the first
 * 16 hex digits of the SHA-256 of the raw public key, which the metadata names so a node looks the
 * key up among the ones it trusts.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign as edSign, verify as edVerify } from "node:crypto"

export interface TrustedKey {
  readonly id: string
  readonly development: boolean
  /** SPKI PEM. */
  readonly publicKey: string
}

/**
 * Parsed keys by PEM: a node verifies every release against the same few trusted keys, and parsing
 * a PEM costs more than an Ed25519 verification. Bounded: the oldest entry goes first.
 */
const parsed = new Map<string, KeyObject>()
const parsedLimit = 32
const parse = (pem: string, make: (pem: string) => KeyObject): KeyObject => {
  const known = parsed.get(pem)
  if (known !== undefined) return known
  const key = make(pem)
  if (parsed.size >= parsedLimit) parsed.delete(parsed.keys().next().value!)
  parsed.set(pem, key)
  return key
}
const publicKey = (pem: string) => parse(pem, createPublicKey)
const privateKey = (pem: string) => parse(pem, createPrivateKey)

/** The key id of an Ed25519 public key (SPKI PEM); throws on anything else. */
export const keyId = (publicKeyPem: string): string => {
  const key = createPublicKey(publicKeyPem)
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`not an Ed25519 key but ${key.asymmetricKeyType}`)
  return createHash("sha256").update(key.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16)
}

/** The public key (SPKI PEM) of an Ed25519 private key (PKCS#8 PEM). */
export const publicKeyOf = (privateKeyPem: string): string => createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "pem" }).toString()

export const sign = (bytes: Uint8Array, privateKeyPem: string): Uint8Array => new Uint8Array(edSign(null, bytes, privateKey(privateKeyPem)))

export const verify = (bytes: Uint8Array, signature: Uint8Array, publicKeyPem: string): boolean => {
  try {
    return edVerify(null, bytes, publicKey(publicKeyPem), signature)
  } catch {
    return false
  }
}
