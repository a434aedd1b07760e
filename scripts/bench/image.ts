/** An incompressible test image for the download benchmarks: 1 MiB blocks of chained SHA-512, and its SHA-256. */
import { createHash } from "node:crypto"
import * as fs from "node:fs"

export const makeImage = (file: string, sizeMb: number): { readonly sha256: string; readonly size: number } => {
  const hash = createHash("sha256")
  const fd = fs.openSync(file, "w")
  let block = createHash("sha512").update("keelos").digest()
  const chunk = Buffer.alloc(1 << 20)
  for (let mb = 0; mb < sizeMb; mb++) {
    for (let at = 0; at < chunk.length; at += 64) {
      block = createHash("sha512").update(block).digest()
      block.copy(chunk, at)
    }
    fs.writeSync(fd, chunk)
    hash.update(chunk)
  }
  fs.closeSync(fd)
  return { sha256: hash.digest("hex"), size: fs.statSync(file).size }
}
