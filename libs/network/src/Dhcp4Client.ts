/**
 * The DHCPv4 client of one link (RFC 2131 §4.4): INIT → SELECTING (DISCOVER until an OFFER) →
 * REQUESTING → BOUND, or INIT-REBOOT with the address of a lease from before a reboot; at T1 RENEWING (unicast to the server that leased), at T2 REBINDING
 * (broadcast to any server), and at the lease's end the address is given up and it starts over. A
 * NAK starts over at once. On interruption (shutdown) the lease is released.
 *
 * Every wait is on Effect's Clock (monotonic), every transaction id and retransmission jitter from
 * Effect's Random, so tests drive a whole lease's life with TestClock. What a lease means for the
 * node (addresses, routes, resolver) is the caller's `bound` and `lost`: this module only speaks
 * the protocol.
 */
import { Clock, Duration, Effect, Option, Random, Ref } from "effect"
import { DhcpSockets, type Links } from "@keelos/platform"
import * as Dhcp4Message from "./Dhcp4Message.ts"
import * as Ipv4 from "./Ipv4.ts"

/** An infinite lease (option 51 = 0xffffffff): never renewed, never expires. */
export const infinite = 0xffffffff

export interface Lease {
  readonly link: string
  /** The leased address. */
  readonly address: string
  readonly prefix: number
  /** The server identifier (option 54): where renewals go. */
  readonly server: string
  readonly routers: ReadonlyArray<string>
  /** Classless static routes (option 121); when present, routers are not routes (RFC 3442). */
  readonly routes: ReadonlyArray<Dhcp4Message.ClasslessRoute>
  readonly nameservers: ReadonlyArray<string>
  readonly domain?: string
  readonly hostname?: string
  readonly mtu?: number
  readonly leaseSeconds: number
  readonly renewSeconds: number
  readonly rebindSeconds: number
  /** Monotonic milliseconds when the request that got this lease was sent (RFC 2131 §4.4.1: the lease runs from then). */
  readonly sentAtMillis: number
}

export type LostReason = "expired" | "refused" | "released"

export interface Options {
  readonly link: string
  /** The link's hardware address, `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string
  /** The host name to tell servers (option 12), if any. */
  readonly hostname?: string
  /**
   * The address of a lease from before (a reboot) that has not run out: asked for again first
   * (INIT-REBOOT, RFC 2131 §3.2), so the node keeps its address and skips discovery.
   */
  readonly remembered?: string
  /** A lease was obtained, or renewed (`previous` is then the lease it replaces). */
  readonly bound: (lease: Lease, previous: Lease | undefined) => Effect.Effect<void>
  /** The lease ended: it expired, the server refused to renew it (NAK), or it was released at shutdown. */
  readonly lost: (lease: Lease, reason: LostReason) => Effect.Effect<void>
  readonly log: (line: string) => Effect.Effect<void>
}

/** What the client asks servers for (option 55). */
const parameters = Uint8Array.of(
  Dhcp4Message.Option.subnetMask,
  Dhcp4Message.Option.routers,
  Dhcp4Message.Option.domainNameServers,
  Dhcp4Message.Option.hostName,
  Dhcp4Message.Option.domainName,
  Dhcp4Message.Option.interfaceMtu,
  Dhcp4Message.Option.broadcastAddress,
  Dhcp4Message.Option.leaseTime,
  Dhcp4Message.Option.serverIdentifier,
  Dhcp4Message.Option.renewalTime,
  Dhcp4Message.Option.rebindingTime,
  Dhcp4Message.Option.classlessStaticRoutes
)

const monotonicMillis = Effect.map(Clock.monotonicTimeNanos, (n) => Number(n / 1_000_000n))

/** The lease an ACK grants, or undefined when it lacks what a lease needs (address, server, lifetime). */
export const leaseOf = (link: string, ack: Dhcp4Message.Message, sentAtMillis: number): Lease | undefined => {
  const o = ack.options
  const server = Dhcp4Message.readAddress(o.get(Dhcp4Message.Option.serverIdentifier))
  const leaseSeconds = Dhcp4Message.readU32(o.get(Dhcp4Message.Option.leaseTime))
  if (server === undefined || leaseSeconds === undefined || leaseSeconds === 0 || ack.yiaddr === "0.0.0.0") return undefined
  const mask = Dhcp4Message.readAddress(o.get(Dhcp4Message.Option.subnetMask))
  const fromMask = mask === undefined ? undefined : Ipv4.prefixOfMask(mask)
  // Without a mask, the classful default (RFC 2131 leaves it to the client; every client does this).
  const first = Number(ack.yiaddr.split(".")[0])
  const prefix = fromMask ?? (first < 128 ? 8 : first < 192 ? 16 : 24)
  // T1 and T2 as the server says when they make sense (T1 < T2 < lease), else RFC 2131's 50 % and 87.5 %.
  const t1 = Dhcp4Message.readU32(o.get(Dhcp4Message.Option.renewalTime))
  const t2 = Dhcp4Message.readU32(o.get(Dhcp4Message.Option.rebindingTime))
  const sane = t1 !== undefined && t2 !== undefined && t1 > 0 && t1 < t2 && t2 < leaseSeconds
  const mtu = Dhcp4Message.readU16(o.get(Dhcp4Message.Option.interfaceMtu))
  const domain = Dhcp4Message.readName(o.get(Dhcp4Message.Option.domainName))
  const hostname = Dhcp4Message.readName(o.get(Dhcp4Message.Option.hostName))
  return {
    link,
    address: ack.yiaddr,
    prefix,
    server,
    routers: Dhcp4Message.readAddresses(o.get(Dhcp4Message.Option.routers)),
    routes: Dhcp4Message.readClasslessRoutes(o.get(Dhcp4Message.Option.classlessStaticRoutes)) ?? [],
    nameservers: Dhcp4Message.readAddresses(o.get(Dhcp4Message.Option.domainNameServers)),
    ...(domain === undefined ? {} : { domain }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(mtu === undefined || mtu < 576 ? {} : { mtu }),
    leaseSeconds,
    renewSeconds: sane ? t1 : Math.floor(leaseSeconds / 2),
    rebindSeconds: sane ? t2 : Math.floor(leaseSeconds * 7 / 8),
    sentAtMillis
  }
}

/** RFC 2131 §4.1: retransmit after 4, 8, 16, 32 and then 64 seconds, each ±1 s at random. */
const backoff = (attempt: number) =>
  Effect.map(Random.nextBetween(-1000, 1000), (jitter) => Duration.millis(Math.min(64_000, 4000 * 2 ** attempt) + jitter))

export const run = (options: Options): Effect.Effect<never, Links.LinkError, DhcpSockets.DhcpSockets> =>
  Effect.scoped(Effect.gen(function*() {
    const socket = yield* Effect.flatMap(DhcpSockets.DhcpSockets, (s) => s.open(options.link))
    const current = yield* Ref.make<Lease | undefined>(undefined)
    const clientId = Uint8Array.of(1, ...options.mac.split(":").map((h) => parseInt(h, 16)))

    const message = (type: Dhcp4Message.MessageType, xid: number, secs: number, fields: {
      readonly ciaddr?: string
      readonly options?: ReadonlyArray<readonly [number, Uint8Array]>
    }): Uint8Array =>
      Dhcp4Message.encode({
        op: "request",
        xid,
        secs,
        // Broadcast replies while the client has no address; unicast once it has one (RFC 2131 §4.1).
        broadcast: fields.ciaddr === undefined,
        ciaddr: fields.ciaddr ?? "0.0.0.0",
        yiaddr: "0.0.0.0",
        siaddr: "0.0.0.0",
        chaddr: options.mac,
        type,
        options: new Map([
          [Dhcp4Message.Option.clientIdentifier, clientId],
          ...(fields.options ?? []),
          ...(type === "RELEASE" ? [] : [
            [Dhcp4Message.Option.parameterRequestList, parameters] as const,
            [Dhcp4Message.Option.maximumMessageSize, Dhcp4Message.u16(1500)] as const,
            ...(options.hostname === undefined ? [] : [[Dhcp4Message.Option.hostName, Dhcp4Message.text(options.hostname)] as const])
          ])
        ])
      })

    /** A failed send is logged and counts as a message without answer: the retransmission timer still runs. */
    const send = (bytes: Uint8Array, to: string) =>
      socket.send(bytes, to).pipe(Effect.catch((error) => options.log(`send to ${to}: ${error.message}`)))

    /** The next reply to `xid` for this client that `accept` takes, within `wait`. */
    const reply = (xid: number, accept: (m: Dhcp4Message.Message) => boolean, wait: Duration.Duration) =>
      Effect.gen(function*() {
        for (;;) {
          const m = Dhcp4Message.decode(yield* socket.receive)
          if (m !== undefined && m.op === "reply" && m.xid === xid && m.chaddr === options.mac && accept(m)) return m
        }
      }).pipe(Effect.timeoutOption(wait), Effect.map(Option.getOrUndefined))

    const newXid = Random.nextIntBetween(1, 0x7fffffff)
    const serverOf = (m: Dhcp4Message.Message) => Dhcp4Message.readAddress(m.options.get(Dhcp4Message.Option.serverIdentifier))
    const isAnswer = (m: Dhcp4Message.Message) => m.type === "ACK" || m.type === "NAK"

    /**
     * INIT-REBOOT: the remembered address, asked for by broadcast twice; an ACK is the lease, a NAK
     * or no answer sends the client to INIT.
     */
    const reboot = (address: string) =>
      Effect.gen(function*() {
        const xid = yield* newXid
        for (let attempt = 0; attempt < 2; attempt++) {
          const sentAt = yield* monotonicMillis
          yield* send(message("REQUEST", xid, 0, { options: [[Dhcp4Message.Option.requestedAddress, Dhcp4Message.address(address)]] }), DhcpSockets.broadcast)
          const answer = yield* reply(xid, isAnswer, yield* backoff(attempt))
          if (answer === undefined) continue
          const lease = answer.type === "ACK" ? leaseOf(options.link, answer, sentAt) : undefined
          if (lease !== undefined) return lease
          yield* options.log(`${address} from before the reboot was refused (${answer.type}); discovering`)
          return undefined
        }
        yield* options.log(`no answer about ${address} from before the reboot; discovering`)
        return undefined
      })

    /** INIT, SELECTING, REQUESTING: until a server grants a lease. */
    const acquire = Effect.gen(function*() {
      for (;;) {
        const xid = yield* newXid
        const began = yield* monotonicMillis
        const secs = Effect.map(monotonicMillis, (now) => Math.floor((now - began) / 1000))
        let offer: Dhcp4Message.Message | undefined
        for (let attempt = 0; offer === undefined; attempt++) {
          yield* send(message("DISCOVER", xid, yield* secs, {}), DhcpSockets.broadcast)
          offer = yield* reply(xid, (m) => m.type === "OFFER" && m.yiaddr !== "0.0.0.0" && serverOf(m) !== undefined, yield* backoff(attempt))
        }
        const server = serverOf(offer)!
        yield* options.log(`offered ${offer.yiaddr} by ${server}`)
        for (let attempt = 0; attempt < 4; attempt++) {
          const sentAt = yield* monotonicMillis
          yield* send(
            message("REQUEST", xid, yield* secs, {
              options: [[Dhcp4Message.Option.requestedAddress, Dhcp4Message.address(offer.yiaddr)], [Dhcp4Message.Option.serverIdentifier, Dhcp4Message.address(server)]]
            }),
            DhcpSockets.broadcast
          )
          const answer = yield* reply(xid, (m) => isAnswer(m) && (serverOf(m) ?? server) === server, yield* backoff(attempt))
          if (answer === undefined) continue
          const lease = answer.type === "ACK" ? leaseOf(options.link, answer, sentAt) : undefined
          if (lease !== undefined) return lease
          yield* options.log(answer.type === "NAK" ? `${server} refused ${offer.yiaddr} (NAK); starting over` : `${server} acknowledged without a usable lease; starting over`)
          break
        }
      }
    })

    /**
     * RENEWING then REBINDING: retransmit at half the time left, at least 60 s apart (RFC 2131 §4.4.5),
     * until the phase's end. The renewed lease, or why there is none.
     */
    const extend = (lease: Lease) =>
      Effect.gen(function*() {
        const t2 = lease.sentAtMillis + lease.rebindSeconds * 1000
        const end = lease.sentAtMillis + lease.leaseSeconds * 1000
        const xid = yield* newXid
        const began = yield* monotonicMillis
        for (const [to, until] of [[lease.server, t2], [DhcpSockets.broadcast, end]] as const) {
          for (let now = yield* monotonicMillis; now < until; now = yield* monotonicMillis) {
            const left = until - now
            yield* send(message("REQUEST", xid, Math.floor((now - began) / 1000), { ciaddr: lease.address }), to)
            const answer = yield* reply(xid, isAnswer, Duration.millis(Math.min(left, Math.max(60_000, left / 2))))
            if (answer === undefined) continue
            const renewed = answer.type === "ACK" ? leaseOf(options.link, answer, now) : undefined
            if (renewed !== undefined) return { renewed } as const
            if (answer.type === "NAK") return { lost: "refused" } as const
          }
          if (to === lease.server) yield* options.log(`${lease.server} did not renew ${lease.address} by T2; asking any server`)
        }
        return { lost: "expired" } as const
      })

    const sleepUntil = (millis: number) => Effect.flatMap(monotonicMillis, (now) => Effect.sleep(Duration.millis(Math.max(0, millis - now))))

    const release = Effect.gen(function*() {
      const lease = yield* Ref.get(current)
      if (lease === undefined) return
      const xid = yield* newXid
      yield* send(message("RELEASE", xid, 0, { ciaddr: lease.address, options: [[Dhcp4Message.Option.serverIdentifier, Dhcp4Message.address(lease.server)]] }), lease.server)
      yield* options.lost(lease, "released")
    })

    return yield* Effect.gen(function*() {
      let remembered = options.remembered
      for (;;) {
        let lease = (remembered === undefined ? undefined : yield* reboot(remembered)) ?? (yield* acquire)
        remembered = undefined
        yield* Ref.set(current, lease)
        yield* options.bound(lease, undefined)
        for (;;) {
          if (lease.leaseSeconds === infinite) return yield* Effect.never
          yield* sleepUntil(lease.sentAtMillis + lease.renewSeconds * 1000)
          const outcome = yield* extend(lease)
          if ("renewed" in outcome) {
            yield* Ref.set(current, outcome.renewed)
            yield* options.bound(outcome.renewed, lease)
            lease = outcome.renewed
            continue
          }
          yield* Ref.set(current, undefined)
          yield* options.lost(lease, outcome.lost)
          break
        }
      }
    }).pipe(Effect.onInterrupt(() => release))
  }))
