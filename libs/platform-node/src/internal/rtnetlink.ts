/**
 * The plumbing under NodeLinks: a socket per call (closed whatever happens), interface ioctls by
 * name, and rtnetlink framing (attributes, messages, one request's replies up to its acknowledgement
 * or the end of its dump, with the errno read from the acknowledgement); address text to bytes and
 * back; kernel errnos as LinkError reasons.
 */
import { Effect } from "effect"
import { Ipv6, Links } from "@keelos/platform"
import { Errno, errnoName, libc } from "./libc.ts"

export const AF_INET = 2
export const AF_INET6 = 10
export const AF_NETLINK = 16
export const SOCK_DGRAM = 2
export const SOCK_RAW = 3
export const SOCK_CLOEXEC = 0x80000
export const NETLINK_ROUTE = 0
export const SIOCGIFINDEX = 0x8933
export const IFNAMSIZ = 16

export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3
export const NLM_F_REQUEST = 0x1
export const NLM_F_ACK = 0x4
export const NLM_F_DUMP = 0x300
export const NLM_F_REPLACE = 0x100
export const NLM_F_EXCL = 0x200
export const NLM_F_CREATE = 0x400
export const NLA_F_NESTED = 0x8000

export type Operation = Links.LinkError["operation"]

export const failure = (operation: Operation, link: string, errno: number, call: string) =>
  new Links.LinkError({
    operation,
    link,
    reason: errno === Errno.ENODEV || errno === Errno.ENXIO
      ? "NotFound"
      : errno === Errno.EPERM || errno === Errno.EACCES
      ? "NotPermitted"
      : errno === Errno.EEXIST
      ? "Exists"
      : errno === Errno.EINVAL
      ? "Invalid"
      : errno === Errno.ESRCH || errno === Errno.EADDRNOTAVAIL
      ? "Absent"
      : "Io",
    detail: `${call}: ${errnoName(errno)}`
  })

export const invalid = (operation: Operation, link: string, detail: string) => new Links.LinkError({ operation, link, reason: "Invalid", detail })

/** Run `f` with a fresh socket, closed afterwards whatever happens. */
export const withSocket = <A>(operation: Operation, link: string, domain: number, type: number, protocol: number, f: (fd: number) => Effect.Effect<A, Links.LinkError>) =>
  Effect.suspend(() => {
    const c = libc()
    const fd = c.socket(domain, type | SOCK_CLOEXEC, protocol)
    if (fd < 0) return Effect.fail(failure(operation, link, c.errno(), "socket"))
    return Effect.ensuring(f(fd), Effect.sync(() => c.close(fd)))
  })

export const ifreq = (name: string) => {
  const buffer = Buffer.alloc(40)
  buffer.write(name, 0, "utf8")
  return buffer
}

export const linkIndex = (operation: Operation, name: string) =>
  Buffer.byteLength(name) >= IFNAMSIZ
    ? Effect.fail(failure(operation, name, Errno.ENODEV, "name too long"))
    : withSocket(operation, name, AF_INET, SOCK_DGRAM, 0, (fd) =>
      Effect.suspend(() => {
        const request = ifreq(name)
        if (libc().ioctl(fd, SIOCGIFINDEX, request) !== 0) return Effect.fail(failure(operation, name, libc().errno(), "SIOCGIFINDEX"))
        return Effect.succeed(request.readInt32LE(IFNAMSIZ))
      }))

export const parseIpv4 = (text: string): Buffer | undefined => {
  const parts = text.split(".").map(Number)
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255) ? Buffer.from(parts) : undefined
}

/** An IPv4 or IPv6 address in text, with its family. */
export const parseAddress = (text: string): { readonly family: number; readonly bytes: Buffer } | undefined => {
  const v4 = parseIpv4(text)
  if (v4 !== undefined) return { family: AF_INET, bytes: v4 }
  const v6 = text.includes(":") ? Ipv6.parse(text) : undefined
  return v6 === undefined ? undefined : { family: AF_INET6, bytes: Buffer.from(v6) }
}

export const parseCidr = (text: string): { readonly family: number; readonly address: Buffer; readonly prefix: number } | undefined => {
  const [address, prefix, extra] = text.split("/")
  const parsed = address === undefined || extra !== undefined ? undefined : parseAddress(address)
  const length = Number(prefix)
  const max = parsed?.family === AF_INET6 ? 128 : 32
  return parsed === undefined || !/^\d{1,3}$/.test(prefix ?? "") || length > max ? undefined : { family: parsed.family, address: parsed.bytes, prefix: length }
}

export const formatAddress = (family: number, data: Uint8Array) => (family === AF_INET6 ? Ipv6.format(data) : [...data].join("."))

export const attribute = (type: number, data: Buffer) => {
  const length = 4 + data.length
  const buffer = Buffer.alloc((length + 3) & ~3)
  buffer.writeUInt16LE(length, 0)
  buffer.writeUInt16LE(type, 2)
  data.copy(buffer, 4)
  return buffer
}

export const u32 = (value: number) => {
  const buffer = Buffer.alloc(4)
  buffer.writeUInt32LE(value, 0)
  return buffer
}

export const message = (type: number, flags: number, sequence: number, body: ReadonlyArray<Buffer>) => {
  const payload = Buffer.concat(body)
  const header = Buffer.alloc(16)
  header.writeUInt32LE(16 + payload.length, 0)
  header.writeUInt16LE(type, 4)
  header.writeUInt16LE(flags, 6)
  header.writeUInt32LE(sequence, 8)
  return Buffer.concat([header, payload])
}

export interface Reply {
  readonly type: number
  readonly body: Buffer
}

/** Send one request on a bound rtnetlink socket and collect the replies up to the ack or the end of the dump. */
export const exchange = (operation: Operation, link: string, request: Buffer, sequence: number) =>
  withSocket(operation, link, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, (fd) =>
    Effect.suspend(() => {
      const c = libc()
      const address = Buffer.alloc(12)
      address.writeUInt16LE(AF_NETLINK, 0)
      if (c.bind(fd, address, address.length) !== 0) return Effect.fail(failure(operation, link, c.errno(), "bind"))
      if (Number(c.send(fd, request, request.length, 0)) !== request.length) return Effect.fail(failure(operation, link, c.errno(), "send"))
      const replies: Array<Reply> = []
      const buffer = Buffer.alloc(65536)
      for (let reads = 0; reads < 1024; reads++) {
        const received = Number(c.recv(fd, buffer, buffer.length, 0))
        if (received < 0) return Effect.fail(failure(operation, link, c.errno(), "recv"))
        for (let offset = 0; offset + 16 <= received;) {
          const length = buffer.readUInt32LE(offset)
          const type = buffer.readUInt16LE(offset + 4)
          if (length < 16 || offset + length > received) return Effect.fail(invalid(operation, link, "truncated netlink reply"))
          if (buffer.readUInt32LE(offset + 8) === sequence) {
            if (type === NLMSG_ERROR) {
              const errno = -buffer.readInt32LE(offset + 16)
              return errno === 0 ? Effect.succeed(replies) : Effect.fail(failure(operation, link, errno, "rtnetlink"))
            }
            if (type === NLMSG_DONE) return Effect.succeed(replies)
            replies.push({ type, body: Buffer.from(buffer.subarray(offset + 16, offset + length)) })
          }
          offset += (length + 3) & ~3
        }
      }
      return Effect.fail(invalid(operation, link, "no end to the netlink reply"))
    }))

let sequences = 0
export const nextSequence = () => (sequences = (sequences + 1) % 0x7fffffff) + 1

export const ignoreExists = <A>(effect: Effect.Effect<A, Links.LinkError>) =>
  Effect.catchIf(effect, (error) => error.reason === "Exists", () => Effect.void)

/** ESRCH (no such route) and EADDRNOTAVAIL (no such address): what is not there need not go. */
export const ignoreAbsent = <A>(effect: Effect.Effect<A, Links.LinkError>) =>
  Effect.catchIf(effect, (error) => error.reason === "Absent", () => Effect.void)

/** The subnet's broadcast address, as `ip addr add … brd +` computes it; none for /31, /32 and IPv6. */
export const nested = (type: number, children: ReadonlyArray<Buffer>) => attribute(type | NLA_F_NESTED, Buffer.concat(children))

export const u16 = (value: number) => {
  const buffer = Buffer.alloc(2)
  buffer.writeUInt16LE(value, 0)
  return buffer
}

