/**
 * HttpDownload on a node: HTTP/1.1 over node:net and node:tls with `onread`, so every socket read
 * lands in one fixed buffer and the body is copied from there into the caller's buffer, with no
 * allocation per read (why: see the contract). A response-head parser and chunked decoding are all
 * of HTTP it needs: one GET per connection (`Connection: close`), redirects followed up to 5 times.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect, Layer } from "effect"
import { HttpDownload } from "@keelos/platform"

export interface Options {
  /** CAs to trust for https instead of Node's bundled ones (the system's plus the operator's). */
  readonly ca?: ReadonlyArray<string>
  /** How long a read or the response head may wait for the next bytes. */
  readonly idleTimeoutMillis?: number
  /** The socket's read buffer. */
  readonly readBufferBytes?: number
}

const maxHeadBytes = 64 * 1024
const maxLineBytes = 4 * 1024
const maxSpillBytes = 8 * 1024 * 1024
const maxRedirects = 5
const redirectStatuses = new Set([301, 302, 303, 307, 308])
const crlfcrlf = new Uint8Array([13, 10, 13, 10])
const latin1 = new TextDecoder("latin1")

type Framing =
  | { readonly _tag: "Length"; remaining: number }
  | { readonly _tag: "Chunked"; state: "size" | "data" | "dataEnd" | "trailer"; remaining: number; line: string }
  | { readonly _tag: "UntilClose" }

interface Head {
  readonly status: number
  readonly headers: Record<string, string>
}

const classify = (error: NodeJS.ErrnoException): HttpDownload.HttpDownloadReason => {
  const code = error.code ?? ""
  if (code === "ETIMEDOUT") return "Timeout"
  if (code === "ECONNRESET" || code === "EPIPE") return "Closed"
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code.includes("CERT") || code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE") return "Tls"
  return "Connect"
}

const parseHead = (bytes: Uint8Array): Head | string => {
  const lines = latin1.decode(bytes).split("\r\n")
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? "")
  if (status === null) return `the server answered ${JSON.stringify((lines[0] ?? "").slice(0, 80))}, not an HTTP/1.1 status line`
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    if (line === "") continue
    const colon = line.indexOf(":")
    if (colon <= 0) return `a malformed header line ${JSON.stringify(line.slice(0, 80))}`
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { status: Number(status[1]), headers }
}

const framingOf = (head: Head): Framing | string => {
  if (head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) return { _tag: "Length", remaining: 0 }
  const encoding = head.headers["transfer-encoding"]
  if (encoding !== undefined) {
    if (encoding.toLowerCase() !== "chunked") return `the server sent Transfer-Encoding ${encoding}; only chunked is understood`
    return { _tag: "Chunked", state: "size", remaining: 0, line: "" }
  }
  const length = head.headers["content-length"]
  if (length === undefined) return { _tag: "UntilClose" }
  if (!/^\d+$/.test(length)) return `the server sent Content-Length ${JSON.stringify(length)}`
  return { _tag: "Length", remaining: Number(length) }
}

/** One GET on its own connection: the socket stays paused while nobody reads. */
class Exchange {
  readonly url: URL
  readonly socket: net.Socket
  readonly idleTimeoutMillis: number
  readonly scratch: Uint8Array
  /** What `drain` takes bytes from, and the stretch of it not yet taken: `scratch` or `spill`. */
  source: Uint8Array
  start = 0
  end = 0
  /**
   * Bytes received that no read has taken yet. They cannot stay in `scratch`: the socket writes
   * its next delivery there, and a TLS socket delivers what it has decrypted even after a pause.
   */
  spill = new Uint8Array(0)
  spillStart = 0
  spillEnd = 0
  readonly head = new Uint8Array(maxHeadBytes)
  headLength = 0
  parsed: Head | undefined
  framing: Framing | undefined
  done = false
  eof = false
  failure: HttpDownload.HttpDownloadError | undefined
  /** The current read's destination and how much of it is filled. */
  dest: Uint8Array | undefined
  filled = 0
  /** Wakes whoever waits: the head's waiter, or the current read's. */
  wake: (() => void) | undefined

  constructor(url: URL, headers: Readonly<Record<string, string>>, options: Options) {
    this.url = url
    this.idleTimeoutMillis = options.idleTimeoutMillis ?? 60_000
    this.scratch = new Uint8Array(options.readBufferBytes ?? 256 * 1024)
    this.source = this.scratch
    const onread = { buffer: this.scratch, callback: (n: number) => this.received(n) }
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80))
    this.socket = url.protocol === "https:"
      // `onread` works for TLS sockets too (Node 15.1); @types/node lists it for net only.
      ? tls.connect({ host, port, onread, ...(net.isIP(host) === 0 ? { servername: host } : {}), ...(options.ca === undefined ? {} : { ca: [...options.ca] }) } as tls.ConnectionOptions)
      : net.connect({ host, port, onread })
    this.socket.setNoDelay(true)
    this.socket.on("error", (error: NodeJS.ErrnoException) => {
      const reason = classify(error)
      // Node's own hint about --use-system-ca does not apply: the node passes its trust store itself.
      const detail = error.message.replace(/; if the root CA is installed locally.*$/, "")
      this.fail(reason, reason === "Tls" ? `${detail} (is the server's CA among the CAs this node trusts?)` : detail)
    })
    this.socket.on("end", () => this.ended())
    this.socket.on("close", () => this.ended())
    this.socket.on("timeout", () => this.fail("Timeout", `no data for ${this.idleTimeoutMillis / 1000} s`))
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, "user-agent: keelos", "accept-encoding: identity", "connection: close"]
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
    this.socket.setTimeout(this.idleTimeoutMillis)
    this.socket.write(`${lines.join("\r\n")}\r\n\r\n`)
  }

  fail(reason: HttpDownload.HttpDownloadReason, detail: string) {
    if (this.failure === undefined && !this.done) {
      this.failure = new HttpDownload.HttpDownloadError({ operation: this.parsed === undefined ? "request" : "read", url: this.url.href, reason, detail })
    }
    this.socket.destroy()
    this.notify()
  }

  ended() {
    if (this.eof) return
    this.eof = true
    if (this.parsed === undefined) return this.fail("Closed", "the connection closed before the response head")
    this.notify()
  }

  notify() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /**
   * The socket's callback: `false` pauses it until a read wants bytes. The waiter it wakes may run
   * on at once and start the next read from inside this call: then reading goes on.
   */
  received(n: number): boolean {
    this.source = this.scratch
    this.start = 0
    this.end = n
    if (this.parsed === undefined) {
      this.takeHead()
      if (this.parsed === undefined && this.failure === undefined) return true
    } else if (this.spillEnd === this.spillStart) {
      this.drain()
    }
    this.keep()
    this.drainSpill()
    if (!this.satisfied()) return true
    this.notify()
    return this.wake !== undefined
  }

  /** Moves what is left of `scratch` to the end of the spill. */
  keep() {
    const length = this.end - this.start
    if (length === 0 || this.source !== this.scratch) return
    if (this.spillEnd + length > this.spill.length) {
      const pending = this.spillEnd - this.spillStart
      if (pending + length > maxSpillBytes) return this.fail("Protocol", `more than ${maxSpillBytes} bytes arrived while nobody read`)
      const grown = pending + length > this.spill.length ? new Uint8Array(Math.min(maxSpillBytes, Math.max(2 * this.spill.length, pending + length, this.scratch.length))) : this.spill
      grown.set(this.spill.subarray(this.spillStart, this.spillEnd), 0)
      this.spill = grown
      this.spillStart = 0
      this.spillEnd = pending
    }
    this.spill.set(this.scratch.subarray(this.start, this.end), this.spillEnd)
    this.spillEnd += length
    this.start = this.end
  }

  /** Drains the spill into the destination. */
  drainSpill() {
    if (this.spillEnd === this.spillStart) return
    this.source = this.spill
    this.start = this.spillStart
    this.end = this.spillEnd
    this.drain()
    this.spillStart = this.start
    if (this.spillStart === this.spillEnd) this.spillStart = this.spillEnd = 0
  }

  takeHead() {
    const before = this.headLength
    const n = Math.min(this.end - this.start, maxHeadBytes - before)
    this.head.set(this.source.subarray(this.start, this.start + n), before)
    this.headLength += n
    const at = indexOf(this.head.subarray(0, this.headLength), crlfcrlf, Math.max(0, before - 3))
    if (at < 0) {
      if (this.headLength === maxHeadBytes) this.fail("Protocol", `the response head is longer than ${maxHeadBytes} bytes`)
      this.start = this.end
      return
    }
    this.start += at + 4 - before
    const head = parseHead(this.head.subarray(0, at))
    if (typeof head === "string") return this.fail("Protocol", head)
    const framing = framingOf(head)
    if (typeof framing === "string") return this.fail("Protocol", framing)
    this.parsed = head
    this.framing = framing
    this.done = framing._tag === "Length" && framing.remaining === 0
  }

  /** Moves body bytes from `scratch` into the destination until either runs out. */
  drain() {
    const framing = this.framing!
    while (this.start < this.end && !this.done && this.failure === undefined) {
      const room = this.dest === undefined ? 0 : this.dest.length - this.filled
      if (framing._tag === "Length") {
        const n = Math.min(room, this.end - this.start, framing.remaining)
        if (n === 0) return
        this.copy(n)
        framing.remaining -= n
        this.done = framing.remaining === 0
      } else if (framing._tag === "UntilClose") {
        const n = Math.min(room, this.end - this.start)
        if (n === 0) return
        this.copy(n)
      } else if (framing.state === "data") {
        const n = Math.min(room, this.end - this.start, framing.remaining)
        if (n === 0) return
        this.copy(n)
        framing.remaining -= n
        if (framing.remaining === 0) framing.state = "dataEnd"
      } else {
        this.chunkLine(framing)
      }
    }
  }

  copy(n: number) {
    this.dest!.set(this.source.subarray(this.start, this.start + n), this.filled)
    this.filled += n
    this.start += n
  }

  /** Takes one byte of a chunk-size line, the CRLF after a chunk, or a trailer line. */
  chunkLine(framing: Extract<Framing, { _tag: "Chunked" }>) {
    const byte = this.source[this.start++]!
    if (byte !== 10) {
      if (framing.line.length >= maxLineBytes) return this.fail("Protocol", "a chunk header line is too long")
      framing.line += String.fromCharCode(byte)
      return
    }
    const line = framing.line.endsWith("\r") ? framing.line.slice(0, -1) : framing.line
    framing.line = ""
    if (framing.state === "dataEnd") {
      if (line !== "") return this.fail("Protocol", "a chunk is longer than its size says")
      framing.state = "size"
    } else if (framing.state === "size") {
      const size = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(line)
      if (size === null) return this.fail("Protocol", `a malformed chunk size ${JSON.stringify(line.slice(0, 40))}`)
      framing.remaining = parseInt(size[1]!, 16)
      framing.state = framing.remaining === 0 ? "trailer" : "data"
    } else if (line === "") {
      this.done = true
    }
  }

  /** The whole body has been read: its framing says so, or it runs until the close and that came. */
  finished() {
    return this.done || (this.eof && this.framing?._tag === "UntilClose" && this.spillStart === this.spillEnd)
  }

  satisfied() {
    return this.dest === undefined || this.filled === this.dest.length || this.done || this.failure !== undefined || this.eof
  }

  readonly awaitHead: Effect.Effect<Head, HttpDownload.HttpDownloadError> = Effect.callback((resume) => {
    const settle = () => {
      this.socket.setTimeout(0)
      resume(this.parsed !== undefined ? Effect.succeed(this.parsed) : Effect.fail(this.failure!))
    }
    if (this.parsed !== undefined || this.failure !== undefined) return settle()
    this.wake = settle
  })

  read(into: Uint8Array): Effect.Effect<number, HttpDownload.HttpDownloadError> {
    return Effect.callback((resume) => {
      this.dest = into
      this.filled = 0
      const settle = () => {
        this.socket.setTimeout(0)
        const filled = this.filled
        this.dest = undefined
        if (filled > 0 || this.finished()) return resume(Effect.succeed(filled))
        if (this.failure !== undefined) return resume(Effect.fail(this.failure))
        const framing = this.framing!
        const detail = framing._tag === "Length" ? `the connection closed with ${framing.remaining} bytes of the body still to come` : "the connection closed in the middle of a chunked body"
        return resume(Effect.fail(new HttpDownload.HttpDownloadError({ operation: "read", url: this.url.href, reason: "Closed", detail })))
      }
      if (into.length === 0) return resume(Effect.succeed(0))
      this.drainSpill()
      if (this.satisfied()) return settle()
      this.wake = settle
      this.socket.setTimeout(this.idleTimeoutMillis)
      this.socket.resume()
    })
  }
}

const indexOf = (haystack: Uint8Array, needle: Uint8Array, from: number) => {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

const open = (url: URL, headers: Readonly<Record<string, string>>, options: Options) =>
  Effect.acquireRelease(Effect.sync(() => new Exchange(url, headers, options)), (exchange) => Effect.sync(() => exchange.socket.destroy()))

export const make = (options: Options = {}): HttpDownload.HttpDownload["Service"] => ({
  get: (first, headers) =>
    Effect.gen(function*() {
      let url = first
      for (let hops = 0;; hops++) {
        if (url.protocol !== "http:" && url.protocol !== "https:") {
          return yield* new HttpDownload.HttpDownloadError({ operation: "request", url: url.href, reason: "Protocol", detail: "only http and https URLs can be downloaded" })
        }
        const sent = url.origin === first.origin ? headers : Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"))
        const exchange = yield* open(url, sent, options)
        const head = yield* exchange.awaitHead
        const location = head.headers["location"]
        if (!redirectStatuses.has(head.status) || location === undefined || hops === maxRedirects) {
          return { status: head.status, headers: head.headers, url, read: (into: Uint8Array) => exchange.read(into) } satisfies HttpDownload.Response
        }
        exchange.socket.destroy()
        url = new URL(location, url)
      }
    })
})

/** Node's bundled CAs. */
export const layer: Layer.Layer<HttpDownload.HttpDownload> = Layer.succeed(HttpDownload.HttpDownload)(make())

export const layerWith = (options: Options): Layer.Layer<HttpDownload.HttpDownload> => Layer.succeed(HttpDownload.HttpDownload)(make(options))
