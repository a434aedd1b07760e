/**
 * DHCPv4 messages (RFC 2131 on the BOOTP frame of RFC 951, options of RFC 2132 and the classless
 * static routes of RFC 3442): encoding what the client sends and decoding what servers answer.
 * Decoding never throws: anything malformed is `undefined`, since a node's link carries whatever
 * anyone sends to port 68.
 */
import * as Ipv4 from "./Ipv4.ts"

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8
} as const
export type MessageType = keyof typeof MessageType

export const Option = {
  subnetMask: 1,
  routers: 3,
  domainNameServers: 6,
  hostName: 12,
  domainName: 15,
  interfaceMtu: 26,
  broadcastAddress: 28,
  requestedAddress: 50,
  leaseTime: 51,
  overload: 52,
  messageType: 53,
  serverIdentifier: 54,
  parameterRequestList: 55,
  message: 56,
  maximumMessageSize: 57,
  renewalTime: 58,
  rebindingTime: 59,
  vendorClass: 60,
  clientIdentifier: 61,
  classlessStaticRoutes: 121
} as const

const magicCookie = 0x63825363
const fixedLength = 236
const bootRequest = 1
const bootReply = 2
/** The BROADCAST bit: servers answer by broadcast, since the client has no address to receive unicast on. */
const broadcastFlag = 0x8000

export interface Message {
  readonly op: "request" | "reply"
  readonly xid: number
  readonly secs: number
  readonly broadcast: boolean
  readonly ciaddr: string
  readonly yiaddr: string
  readonly siaddr: string
  /** The client's hardware address, `aa:bb:cc:dd:ee:ff`. */
  readonly chaddr: string
  readonly type: MessageType
  /** Every option but the message type, by code, as sent. */
  readonly options: ReadonlyMap<number, Uint8Array>
}

const macBytes = (mac: string) => Uint8Array.from(mac.split(":").map((h) => parseInt(h, 16)))
const macText = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":")
const typeName = (code: number): MessageType | undefined =>
  (Object.keys(MessageType) as Array<MessageType>).find((name) => MessageType[name] === code)

export const encode = (message: Message): Uint8Array => {
  const options: Array<number> = [Option.messageType, 1, MessageType[message.type]]
  for (const [code, value] of message.options) {
    if (value.length === 0) options.push(code, 0)
    // A value longer than 255 bytes is split across repeated options (RFC 3396).
    for (let at = 0; at < value.length; at += 255) {
      const part = value.subarray(at, at + 255)
      options.push(code, part.length, ...part)
    }
  }
  options.push(255)
  // Padded to the 300 bytes of a BOOTP message, which some relays and servers still insist on.
  const bytes = new Uint8Array(Math.max(300, fixedLength + 4 + options.length))
  const view = new DataView(bytes.buffer)
  const mac = macBytes(message.chaddr)
  bytes[0] = message.op === "request" ? bootRequest : bootReply
  bytes[1] = 1 // Ethernet
  bytes[2] = mac.length
  view.setUint32(4, message.xid >>> 0)
  view.setUint16(8, Math.min(0xffff, message.secs))
  view.setUint16(10, message.broadcast ? broadcastFlag : 0)
  bytes.set(Ipv4.toBytes(message.ciaddr), 12)
  bytes.set(Ipv4.toBytes(message.yiaddr), 16)
  bytes.set(Ipv4.toBytes(message.siaddr), 20)
  bytes.set(mac, 28)
  view.setUint32(fixedLength, magicCookie)
  bytes.set(options, fixedLength + 4)
  return bytes
}

/** The options in `bytes` from `start`, concatenating repeated codes (RFC 3396); undefined when truncated. */
const readOptions = (bytes: Uint8Array, start: number, end: number, into: Map<number, Uint8Array>): boolean => {
  for (let at = start; at < end;) {
    const code = bytes[at]!
    if (code === 0) {
      at++
      continue
    }
    if (code === 255) return true
    if (at + 1 >= end) return false
    const length = bytes[at + 1]!
    if (at + 2 + length > end) return false
    const value = bytes.subarray(at + 2, at + 2 + length)
    const before = into.get(code)
    into.set(code, before === undefined ? Uint8Array.from(value) : Uint8Array.from([...before, ...value]))
    at += 2 + length
  }
  return true
}

export const decode = (bytes: Uint8Array): Message | undefined => {
  if (bytes.length < fixedLength + 4) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(fixedLength) !== magicCookie) return undefined
  if (bytes[0] !== bootRequest && bytes[0] !== bootReply) return undefined
  const hlen = bytes[2]!
  if (hlen === 0 || hlen > 16) return undefined
  const options = new Map<number, Uint8Array>()
  if (!readOptions(bytes, fixedLength + 4, bytes.length, options)) return undefined
  // Option overload: more options in the `file` and `sname` fields.
  const overload = options.get(Option.overload)?.[0] ?? 0
  if ((overload & 1) !== 0 && !readOptions(bytes, 108, 236, options)) return undefined
  if ((overload & 2) !== 0 && !readOptions(bytes, 44, 108, options)) return undefined
  const typeCode = options.get(Option.messageType)
  const type = typeCode?.length === 1 ? typeName(typeCode[0]!) : undefined
  if (type === undefined) return undefined
  options.delete(Option.messageType)
  options.delete(Option.overload)
  return {
    op: bytes[0] === bootRequest ? "request" : "reply",
    xid: view.getUint32(4),
    secs: view.getUint16(8),
    broadcast: (view.getUint16(10) & broadcastFlag) !== 0,
    ciaddr: Ipv4.fromBytes(bytes, 12),
    yiaddr: Ipv4.fromBytes(bytes, 16),
    siaddr: Ipv4.fromBytes(bytes, 20),
    chaddr: macText(bytes.subarray(28, 28 + hlen)),
    type,
    options
  }
}

// Option values.

export const u8 = (value: number) => Uint8Array.of(value)
export const u16 = (value: number) => Uint8Array.of(value >>> 8, value & 255)
export const u32 = (value: number) => Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255)
export const address = (text: string) => Ipv4.toBytes(text)
export const addresses = (list: ReadonlyArray<string>) => Uint8Array.from(list.flatMap((a) => [...Ipv4.toBytes(a)]))
export const text = (value: string) => new TextEncoder().encode(value)

export const readU16 = (value: Uint8Array | undefined) => value?.length === 2 ? (value[0]! << 8) | value[1]! : undefined
export const readU32 = (value: Uint8Array | undefined) => value?.length === 4 ? ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0 : undefined
export const readAddress = (value: Uint8Array | undefined) => value?.length === 4 ? Ipv4.fromBytes(value) : undefined
export const readAddresses = (value: Uint8Array | undefined): ReadonlyArray<string> =>
  value === undefined || value.length % 4 !== 0 ? [] : Array.from({ length: value.length / 4 }, (_, i) => Ipv4.fromBytes(value, i * 4))
/** A printable name (host name, domain): NULs at the end are dropped, anything else unprintable refuses it. */
export const readName = (value: Uint8Array | undefined): string | undefined => {
  if (value === undefined) return undefined
  const name = new TextDecoder().decode(value).replace(/\0+$/, "")
  return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name : undefined
}

export interface ClasslessRoute {
  readonly destination: string
  /** `0.0.0.0` for a route on the link itself. */
  readonly gateway: string
}

/** Option 121: width, the significant octets of the destination, then the router; undefined when malformed. */
export const readClasslessRoutes = (value: Uint8Array | undefined): ReadonlyArray<ClasslessRoute> | undefined => {
  if (value === undefined) return undefined
  const routes: Array<ClasslessRoute> = []
  for (let at = 0; at < value.length;) {
    const width = value[at]!
    if (width > 32) return undefined
    const significant = Math.ceil(width / 8)
    if (at + 1 + significant + 4 > value.length) return undefined
    const destination = new Uint8Array(4)
    destination.set(value.subarray(at + 1, at + 1 + significant))
    routes.push({
      destination: `${Ipv4.networkOf(Ipv4.fromBytes(destination), width)}/${width}`,
      gateway: Ipv4.fromBytes(value, at + 1 + significant)
    })
    at += 1 + significant + 4
  }
  return routes
}

export const classlessRoutes = (routes: ReadonlyArray<ClasslessRoute>): Uint8Array =>
  Uint8Array.from(routes.flatMap((route) => {
    const [network, width] = route.destination.split("/")
    const prefix = Number(width)
    return [prefix, ...Ipv4.toBytes(network!).subarray(0, Math.ceil(prefix / 8)), ...Ipv4.toBytes(route.gateway)]
  }))
