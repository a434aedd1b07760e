/**
 * A DHCP server behind the DhcpSockets contract, for TestClock tests of the client: it answers
 * in the same fiber as the client's send, on the simulated clock, and records every message it saw
 * with the time. Its behaviour is switched by the test: down (answers nothing), NAK on renewal.
 */
import { Clock, Effect, Layer, Queue } from "effect"
import { DhcpSockets } from "@keelos/platform"
import { Dhcp4Message } from "../src/index.ts"

export interface Seen {
  readonly atMillis: number
  readonly type: Dhcp4Message.MessageType
  readonly to: string
  readonly ciaddr: string
  readonly requested: string | undefined
  readonly server: string | undefined
  readonly secs: number
}

export interface Behaviour {
  up: boolean
  nakRenewals: boolean
  /** NAK an INIT-REBOOT request (no server identifier, no ciaddr). */
  nakReboots: boolean
  leaseSeconds: number
  renewSeconds: number | undefined
  rebindSeconds: number | undefined
  address: string
  hostname: string | undefined
}

export const serverAddress = "10.0.2.2"

export const make = (initial: Partial<Behaviour> = {}) => {
  const behaviour: Behaviour = { up: true, nakRenewals: false, nakReboots: false, leaseSeconds: 3600, renewSeconds: undefined, rebindSeconds: undefined, address: "10.0.2.15", hostname: undefined, ...initial }
  const seen: Array<Seen> = []
  const open = () =>
    Effect.gen(function*() {
      const arrivals = yield* Queue.sliding<Uint8Array>(64)
      const answer = (request: Dhcp4Message.Message, type: Dhcp4Message.MessageType) => {
        const options = new Map<number, Uint8Array>([
          [Dhcp4Message.Option.serverIdentifier, Dhcp4Message.address(serverAddress)],
          [Dhcp4Message.Option.leaseTime, Dhcp4Message.u32(behaviour.leaseSeconds)],
          [Dhcp4Message.Option.subnetMask, Dhcp4Message.address("255.255.255.0")],
          [Dhcp4Message.Option.routers, Dhcp4Message.addresses([serverAddress])],
          [Dhcp4Message.Option.domainNameServers, Dhcp4Message.addresses(["10.0.2.3", "1.1.1.1"])],
          [Dhcp4Message.Option.interfaceMtu, Dhcp4Message.u16(1400)],
          [Dhcp4Message.Option.domainName, Dhcp4Message.text("example.test")]
        ])
        if (behaviour.hostname !== undefined) options.set(Dhcp4Message.Option.hostName, Dhcp4Message.text(behaviour.hostname))
        if (behaviour.renewSeconds !== undefined) options.set(Dhcp4Message.Option.renewalTime, Dhcp4Message.u32(behaviour.renewSeconds))
        if (behaviour.rebindSeconds !== undefined) options.set(Dhcp4Message.Option.rebindingTime, Dhcp4Message.u32(behaviour.rebindSeconds))
        Queue.offerUnsafe(arrivals, Dhcp4Message.encode({
          op: "reply",
          xid: request.xid,
          secs: 0,
          broadcast: request.broadcast,
          ciaddr: request.ciaddr,
          yiaddr: type === "NAK" ? "0.0.0.0" : behaviour.address,
          siaddr: "0.0.0.0",
          chaddr: request.chaddr,
          type,
          options: type === "NAK" ? new Map([[Dhcp4Message.Option.serverIdentifier, Dhcp4Message.address(serverAddress)]]) : options
        }))
      }
      const service: DhcpSockets.DhcpSocket = {
        send: (bytes, to) =>
          Effect.gen(function*() {
            const request = Dhcp4Message.decode(bytes)!
            seen.push({
              atMillis: yield* Clock.currentTimeMillis,
              type: request.type,
              to,
              ciaddr: request.ciaddr,
              requested: Dhcp4Message.readAddress(request.options.get(Dhcp4Message.Option.requestedAddress)),
              server: Dhcp4Message.readAddress(request.options.get(Dhcp4Message.Option.serverIdentifier)),
              secs: request.secs
            })
            if (!behaviour.up) return
            if (request.type === "DISCOVER") answer(request, "OFFER")
            const rebooting = request.ciaddr === "0.0.0.0" && !request.options.has(Dhcp4Message.Option.serverIdentifier)
            if (request.type === "REQUEST") {
              answer(request, (request.ciaddr !== "0.0.0.0" && behaviour.nakRenewals) || (rebooting && behaviour.nakReboots) ? "NAK" : "ACK")
            }
          }),
        receive: Queue.take(arrivals)
      }
      return service
    })
  return { behaviour, seen, layer: Layer.succeed(DhcpSockets.DhcpSockets)({ open }) }
}
