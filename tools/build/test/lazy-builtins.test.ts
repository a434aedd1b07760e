import { execFileSync, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const bundleTool = path.join(import.meta.dirname, "..", "src", "bundle.ts")
const work = fs.mkdtempSync(path.join(os.tmpdir(), "keel-lazy-"))

const bundle = (name: string, source: string, lazy: string) => {
  const entry = path.join(work, `${name}.ts`)
  fs.writeFileSync(entry, source)
  const outfile = path.join(work, `${name}.js`)
  const result = spawnSync(process.execPath, [bundleTool, entry, outfile, "--lazy", lazy], { encoding: "utf8" })
  return { ...result, outfile }
}
const loaded = "(id) => process.moduleLoadList.includes(`NativeModule ${id}`)"

describe("keel-bundle --lazy", () => {
  it("loads a lazy built-in only when one of its exports is used, and the exports behave as the real ones", () => {
    const { status, stderr, outfile } = bundle("uses", `
      import * as Tls from "node:tls"
      import { createHash, Hash } from "node:crypto"
      import * as Net from "node:net"
      const loaded = ${loaded}
      const before = { tls: loaded("tls"), crypto: loaded("crypto") }
      const digest = createHash("sha256").update("keel").digest("hex")
      const afterCrypto = { tls: loaded("tls"), crypto: loaded("crypto") }
      const socket = new Tls.TLSSocket(new Net.Socket())
      console.log(JSON.stringify({
        before, afterCrypto, digest,
        hashInstance: createHash("sha1") instanceof Hash,
        tlsInstance: socket instanceof Tls.TLSSocket,
        netSocket: socket instanceof Net.Socket,
        afterTls: loaded("tls"),
        ciphers: Tls.getCiphers().includes("aes128-sha")
      }))
      socket.destroy()
    `, "node:tls,node:crypto")
    expect(stderr).not.toContain("error")
    expect(status).toBe(0)
    const report = JSON.parse(execFileSync(process.execPath, [outfile], { encoding: "utf8" }))
    expect(report).toEqual({
      before: { tls: false, crypto: false },
      afterCrypto: { tls: false, crypto: true },
      digest: crypto.createHash("sha256").update("keel").digest("hex"),
      hashInstance: true,
      tlsInstance: true,
      netSocket: true,
      afterTls: true,
      ciphers: true
    })
  })

  it("defers a built-in read through its default export or required by its bare name, as CommonJS dependencies do", () => {
    fs.writeFileSync(path.join(work, "dep.cjs"), "const http = require(\"http\")\nconst make = http.createServer\nmodule.exports = () => make()\n")
    const { status, stderr, outfile } = bundle("default", `
      import http from "node:http"
      import make from "./dep.cjs"
      const loaded = ${loaded}
      const createServer = http.createServer
      const before = loaded("http")
      const server = make()
      console.log(JSON.stringify({
        before,
        after: loaded("http"),
        isServer: server instanceof http.Server,
        same: createServer === http.createServer,
        constant: typeof http.maxHeaderSize
      }))
    `, "node:http")
    expect(stderr).not.toContain("error")
    expect(status).toBe(0)
    expect(JSON.parse(execFileSync(process.execPath, [outfile], { encoding: "utf8" }))).toEqual({
      before: false,
      after: true,
      isServer: true,
      same: true,
      constant: "number"
    })
  })

  it("refuses to build a bundle that reads a constant a lazy built-in cannot defer", () => {
    const { status, stderr } = bundle("constant", `
      import * as Tls from "node:tls"
      console.log(Tls.DEFAULT_MIN_VERSION)
    `, "node:tls")
    expect(status).toBe(1)
    expect(stderr).toContain("DEFAULT_MIN_VERSION")
    expect(stderr).toContain("would be undefined at run time")
  })

  it("refuses a lazy module that is not a Node built-in", () => {
    const { status, stderr } = bundle("notbuiltin", "console.log(1)\n", "node:tls,leftpad")
    expect(status).toBe(2)
    expect(stderr).toContain("not one: leftpad")
  })

  it("refuses options it does not know", () => {
    const entry = path.join(work, "plain.ts")
    fs.writeFileSync(entry, "console.log(1)\n")
    const result = spawnSync(process.execPath, [bundleTool, entry, path.join(work, "plain.js"), "--fast"], { encoding: "utf8" })
    expect(result.status).toBe(2)
    expect(result.stderr).toContain("usage: keel-bundle")
  })
})
