/**
 * DHCP sockets on node:dgram: UDP port 68 with SO_REUSEADDR (one socket per link) and
 * SO_BROADCAST, bound to the link with SO_BINDTODEVICE through koffi. Bound to a device, the kernel
 * sends a limited broadcast out of that link even when the node has no address and no route yet,
 * so no raw packet socket is needed (checked against dnsmasq across a veth pair). Arrivals wait in a
 * sliding queue of 64: a flood of stale replies cannot grow memory.
 */
import * as dgram from "node:dgram"
import { Effect, Layer, Queue } from "effect"
import { DhcpSockets, Links } from "@keelos/platform"
import { errnoName, libc } from "./internal/libc.ts"

const SOL_SOCKET = 1
const SO_BINDTODEVICE = 25
const serverPort = 67
const clientPort = 68

const failure = (link: string, detail: string) => new Links.LinkError({ operation: "dhcp", link, reason: "Io", detail })

/**
 * The file descriptor under a bound dgram socket. Node keeps its handle behind a symbol (the
 * public `_handle` is deprecated and warns on the console, which is PID 1's console).
 */
const descriptorOf = (socket: dgram.Socket): number | undefined => {
  const state = Object.getOwnPropertySymbols(socket).map((symbol) => (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[symbol])
    .find((value) => typeof value === "object" && value !== null && "handle" in value)
  const fd = state?.handle?.fd
  return typeof fd === "number" && fd >= 0 ? fd : undefined
}

const bindToDevice = (socket: dgram.Socket, link: string) =>
  Effect.suspend(() => {
    const fd = descriptorOf(socket)
    if (fd === undefined) return Effect.fail(failure(link, "no file descriptor under the UDP socket"))
    const name = Buffer.from(`${link}\0`)
    const c = libc()
    return c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.length) === 0
      ? Effect.void
      : Effect.fail(new Links.LinkError({ operation: "dhcp", link, reason: c.errno() === 19 ? "NotFound" : "Io", detail: `SO_BINDTODEVICE: ${errnoName(c.errno())}` }))
  })

const open = (link: string) =>
  Effect.gen(function*() {
    const arrivals = yield* Queue.sliding<Uint8Array>(64)
    const socket = yield* Effect.acquireRelease(
      Effect.callback<dgram.Socket, Links.LinkError>((resume) => {
        const socket = dgram.createSocket({ type: "udp4", reuseAddr: true })
        socket.once("error", (error) => resume(Effect.fail(failure(link, `bind port ${clientPort}: ${error.message}`))))
        socket.bind({ port: clientPort, address: "0.0.0.0" }, () => {
          socket.removeAllListeners("error")
          socket.on("error", () => undefined)
          socket.setBroadcast(true)
          resume(Effect.succeed(socket))
        })
      }),
      (socket) => Effect.sync(() => socket.close())
    )
    yield* bindToDevice(socket, link)
    socket.on("message", (message, from) => {
      if (from.port === serverPort) Queue.offerUnsafe(arrivals, new Uint8Array(message))
    })
    const service: DhcpSockets.DhcpSocket = {
      send: (message, to) =>
        Effect.callback<void, Links.LinkError>((resume) => {
          socket.send(message, serverPort, to, (error) => resume(error === null ? Effect.void : Effect.fail(failure(link, `send to ${to}: ${error.message}`))))
        }),
      receive: Queue.take(arrivals)
    }
    return service
  })

export const layer: Layer.Layer<DhcpSockets.DhcpSockets> = Layer.succeed(DhcpSockets.DhcpSockets)({ open })
