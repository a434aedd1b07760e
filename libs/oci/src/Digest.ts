/**
 * Content digests (`sha256:<64 hex>`): the only algorithm the client accepts, computed over the
 * exact bytes; a registry's word for a digest is never taken, only compared.
 */
import { createHash } from "node:crypto"

export type Digest = `sha256:${string}`

const pattern = /^sha256:[0-9a-f]{64}$/

export const isDigest = (text: string): text is Digest => pattern.test(text)

export const ofBytes = (bytes: Uint8Array): Digest => `sha256:${createHash("sha256").update(bytes).digest("hex")}`

export const fromHex = (hex: string): Digest => `sha256:${hex}`

export const hexOf = (digest: Digest): string => digest.slice("sha256:".length)
