/**
 * NodeHttpDownload against real sockets: a TCP server that writes exactly the bytes each test
 * names (heads and chunk framing split anywhere, bodies cut short, stalls), redirects between two
 * origins, and TLS with a certificate made by openssl.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { afterEach, describe, expect, it } from "vitest"
import { Effect, Exit } from "effect"
import type { HttpDownload } from "@keelos/platform"
import * as NodeHttpDownload from "../src/NodeHttpDownload.ts"

type Script = (socket: net.Socket, request: string) => void | Promise<void>

const servers: Array<net.Server> = []
afterEach(() => {
  for (const server of servers.splice(0)) server.close()
})

/** A server that reads one request head and hands it, with the socket, to `script`. */
const serve = async (script: Script, secure?: { key: string; cert: string }): Promise<{ port: number; requests: Array<string> }> => {
  const requests: Array<string> = []
  const onSocket = (socket: net.Socket) => {
    let head = ""
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1")
      if (!head.includes("\r\n\r\n")) return
      socket.off("data", onData)
      requests.push(head)
      void script(socket, head)
    }
    socket.on("data", onData)
    socket.on("error", () => {})
  }
  const server = secure === undefined ? net.createServer(onSocket) : tls.createServer(secure, onSocket)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { port: (server.address() as net.AddressInfo).port, requests }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Writes `bytes` in pieces of `size` with a pause between them, so every boundary lands in its own read. */
const dribble = async (socket: net.Socket, bytes: Buffer, size: number) => {
  for (let at = 0; at < bytes.length; at += size) {
    socket.write(bytes.subarray(at, at + size))
    await pause(1)
  }
}

const pattern = (length: number) => Buffer.from(Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) & 0xff))

/**
 * GETs `url` and reads the whole body through a buffer of `bufferBytes`; `slow` waits a moment
 * after each read, as the slot writer does while it writes, so the socket pauses in between.
 */
const fetchAll = (url: string, headers: Record<string, string> = {}, options: NodeHttpDownload.Options = {}, bufferBytes = 1000, slow = false) =>
  Effect.runPromiseExit(Effect.scoped(Effect.gen(function*() {
    const response = yield* NodeHttpDownload.make(options).get(new URL(url), headers)
    const buffer = new Uint8Array(bufferBytes)
    const parts: Array<Buffer> = []
    while (true) {
      const n = yield* response.read(buffer)
      if (n === 0) break
      parts.push(Buffer.from(buffer.subarray(0, n)))
      if (slow) yield* Effect.promise(() => pause(1))
    }
    return { status: response.status, headers: response.headers, url: response.url.href, body: Buffer.concat(parts), reads: parts.length }
  })))

const failure = (exit: Exit.Exit<unknown, HttpDownload.HttpDownloadError>) => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return (error as unknown as { error: HttpDownload.HttpDownloadError }).error
}

describe("NodeHttpDownload", () => {
  it("reads a Content-Length body through a small buffer, head and body split across many reads", async () => {
    const body = pattern(20_000)
    const { port, requests } = await serve(async (socket) => {
      await dribble(socket, Buffer.concat([Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\nContent-Range: bytes 5-20004/20005\r\nX-Twice: a\r\nx-twice: b\r\n\r\n`), body]), 997)
    })
    const exit = await fetchAll(`http://127.0.0.1:${port}/images/os.img?x=1`, { range: "bytes=5-", authorization: "Bearer t0ken" })
    expect(Exit.isSuccess(exit)).toBe(true)
    const got = (exit as Exit.Success<Awaited<ReturnType<typeof fetchAll>> extends Exit.Exit<infer A, unknown> ? A : never>).value
    expect(got.status).toBe(206)
    expect(got.headers["content-range"]).toBe("bytes 5-20004/20005")
    expect(got.headers["x-twice"]).toBe("a, b")
    expect(got.body.equals(body)).toBe(true)
    // Every read but the last filled the whole buffer.
    expect(got.reads).toBe(Math.ceil(body.length / 1000))
    const request = requests[0]!.split("\r\n")
    expect(request[0]).toBe("GET /images/os.img?x=1 HTTP/1.1")
    expect(request).toContain(`host: 127.0.0.1:${port}`)
    expect(request).toContain("range: bytes=5-")
    expect(request).toContain("authorization: Bearer t0ken")
    expect(request).toContain("connection: close")
  })

  it("decodes a chunked body whose framing is split at every byte, with extensions and trailers", async () => {
    const parts = [pattern(3000), pattern(1), pattern(70_000)]
    const framed = Buffer.concat([
      Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
      ...parts.flatMap((p, i) => [Buffer.from(`${p.length.toString(16)}${i === 1 ? ";name=value" : ""}\r\n`), p, Buffer.from("\r\n")]),
      Buffer.from("0\r\nX-Checksum: abc\r\n\r\n")
    ])
    const { port } = await serve(async (socket) => {
      await dribble(socket, framed.subarray(0, 200), 1)
      await dribble(socket, framed.subarray(200), 4093)
      // The connection stays open: the last chunk alone ends the body.
    })
    const exit = await fetchAll(`http://127.0.0.1:${port}/`)
    expect(Exit.isSuccess(exit) && exit.value.body.equals(Buffer.concat(parts))).toBe(true)
  })

  it("reads a body without a length until the server closes", async () => {
    const body = pattern(5000)
    const { port } = await serve(async (socket) => {
      await dribble(socket, Buffer.concat([Buffer.from("HTTP/1.0 200 OK\r\n\r\n"), body]), 1500)
      socket.end()
    })
    const exit = await fetchAll(`http://127.0.0.1:${port}/`)
    expect(Exit.isSuccess(exit) && exit.value.body.equals(body)).toBe(true)
    // A reader slower than the server still gets every byte that arrived before the close.
    const slow = await fetchAll(`http://127.0.0.1:${port}/`, {}, {}, 700, true)
    expect(Exit.isSuccess(slow) && slow.value.body.equals(body)).toBe(true)
  })

  it("hands over what arrived before a cut, then fails Closed", async () => {
    const body = pattern(10_000)
    const { port } = await serve(async (socket) => {
      socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body.subarray(0, 4321)]))
      await pause(20)
      socket.destroy()
    })
    const received: Array<number> = []
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function*() {
      const response = yield* NodeHttpDownload.make().get(new URL(`http://127.0.0.1:${port}/`), {})
      const buffer = new Uint8Array(8000)
      while (true) received.push(yield* response.read(buffer))
    })))
    expect(received.reduce((a, b) => a + b, 0)).toBe(4321)
    expect(failure(exit)).toMatchObject({ operation: "read", reason: "Closed" })
    expect(failure(exit).detail).toContain("5679 bytes of the body still to come")
  })

  it("follows redirects, and sends Authorization only to the first origin", async () => {
    const body = pattern(100)
    const other = await serve((socket) => void socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n`), body])))
    const first = await serve((socket, request) => {
      const target = request.startsWith("GET /start ") ? "/again" : `http://localhost:${other.port}/blob`
      socket.end(`HTTP/1.1 ${request.startsWith("GET /start ") ? 301 : 307} Moved\r\nLocation: ${target}\r\nContent-Length: 0\r\n\r\n`)
    })
    const exit = await fetchAll(`http://127.0.0.1:${first.port}/start`, { authorization: "Bearer secret" })
    expect(Exit.isSuccess(exit) && exit.value.body.equals(body)).toBe(true)
    expect(Exit.isSuccess(exit) && exit.value.url).toBe(`http://localhost:${other.port}/blob`)
    expect(first.requests.map((r) => r.includes("authorization: Bearer secret"))).toEqual([true, true])
    expect(other.requests).toHaveLength(1)
    expect(other.requests[0]).not.toContain("authorization")
  })

  it("refuses what is not HTTP, an endless head and an unknown transfer coding with Protocol", async () => {
    const cases = [
      ["SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.1 status line"],
      [`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70_000)}`, "longer than 65536 bytes"],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "only chunked is understood"],
      ["HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", "Content-Length \"12abc\""],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"]
    ] as const
    for (const [answer, message] of cases) {
      const { port } = await serve((socket) => void socket.write(answer))
      const error = failure(await fetchAll(`http://127.0.0.1:${port}/`, {}, { idleTimeoutMillis: 2000 }))
      expect(error.reason).toBe("Protocol")
      expect(error.detail).toContain(message)
    }
  })

  it("gives up on a server that stops sending with Timeout, and on a closed port with Connect", async () => {
    const { port } = await serve((socket) => void socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
    const stalled = failure(await fetchAll(`http://127.0.0.1:${port}/`, {}, { idleTimeoutMillis: 300 }))
    expect(stalled).toMatchObject({ operation: "read", reason: "Timeout" })
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const unused = (closed.address() as net.AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    expect(failure(await fetchAll(`http://127.0.0.1:${unused}/`))).toMatchObject({ operation: "request", reason: "Connect" })
  })

  it("speaks TLS with the CAs it is given, and refuses a server it cannot verify with Tls", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-dl-tls-"))
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost", "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")
    ], { stdio: "ignore" })
    const key = fs.readFileSync(path.join(dir, "key.pem"), "utf8")
    const cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8")
    const body = pattern(3_000_000)
    const { port } = await serve((socket) => void socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])), { key, cert })
    const trusted = await fetchAll(`https://localhost:${port}/`, {}, { ca: [cert] }, 65_536)
    expect(Exit.isSuccess(trusted) && trusted.value.body.equals(body)).toBe(true)
    // TLS hands over what it has decrypted even after the socket paused: none of it may be lost.
    const paused = await fetchAll(`https://localhost:${port}/`, {}, { ca: [cert] }, 50_000, true)
    expect(Exit.isSuccess(paused) && paused.value.body.equals(body)).toBe(true)
    // The same for a body that runs until the close: the close may come with bytes nobody read yet.
    const unframed = await serve((socket) => void socket.end(Buffer.concat([Buffer.from("HTTP/1.0 200 OK\r\n\r\n"), body])), { key, cert })
    const untilClose = await fetchAll(`https://localhost:${unframed.port}/`, {}, { ca: [cert] }, 50_000, true)
    expect(Exit.isSuccess(untilClose) && untilClose.value.body.equals(body)).toBe(true)
    const untrusted = failure(await fetchAll(`https://localhost:${port}/`))
    expect(untrusted).toMatchObject({ operation: "request", reason: "Tls" })
    expect(untrusted.detail).toContain("among the CAs this node trusts")
    expect(untrusted.detail).not.toContain("--use-system-ca")
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
