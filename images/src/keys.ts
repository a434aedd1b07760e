/**
 * The release signing key. From a file (`KEELOS_SIGNING_KEY`, an Ed25519 PKCS#8 PEM) for real
 * releases; otherwise a development key generated on first use in .keelos/keys and marked as such
 * everywhere it shows: in the image's trusted keys, in the signed metadata, in `osctl status`.
 */
import { generateKeyPairSync } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Signing } from "@keelos/release"

const root = path.resolve(import.meta.dirname, "..", "..")
const devKeyFile = path.join(root, ".keelos", "keys", "DEVELOPMENT-release-signing.key")

export interface SigningKey {
  readonly id: string
  readonly development: boolean
  readonly privateKey: string
  readonly publicKey: string
}

export const signingKey = (): SigningKey => {
  const file = process.env["KEELOS_SIGNING_KEY"]
  if (file !== undefined) {
    const privateKey = fs.readFileSync(file, "utf8")
    const publicKey = Signing.publicKeyOf(privateKey)
    return { id: Signing.keyId(publicKey), development: false, privateKey, publicKey }
  }
  if (!fs.existsSync(devKeyFile)) {
    fs.mkdirSync(path.dirname(devKeyFile), { recursive: true, mode: 0o700 })
    const { privateKey } = generateKeyPairSync("ed25519")
    const temporary = `${devKeyFile}.tmp`
    fs.writeFileSync(temporary, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), { mode: 0o600 })
    fs.renameSync(temporary, devKeyFile)
    console.log(`images: generated a DEVELOPMENT release signing key in ${path.relative(root, devKeyFile)} (set KEELOS_SIGNING_KEY for real releases)`)
  }
  const privateKey = fs.readFileSync(devKeyFile, "utf8")
  const publicKey = Signing.publicKeyOf(privateKey)
  return { id: Signing.keyId(publicKey), development: true, privateKey, publicKey }
}

/** What the image carries at /etc/keel/trusted-keys.json: the keys its nodes accept releases from. */
export const trustedKeysDocument = (key: SigningKey) =>
  JSON.stringify([{ id: key.id, development: key.development, publicKey: key.publicKey }], null, 2) + "\n"
