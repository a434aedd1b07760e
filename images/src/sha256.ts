/** SHA-256 of a file on this machine, read a MiB at a time (release tools and benchmarks). */
import { createHash } from "node:crypto"
import * as fs from "node:fs"

export const sha256File = (file: string) => {
  const hash = createHash("sha256")
  const fd = fs.openSync(file, "r")
  const buffer = Buffer.alloc(1 << 20)
  try {
    for (let read = fs.readSync(fd, buffer); read > 0; read = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, read))
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest("hex")
}
