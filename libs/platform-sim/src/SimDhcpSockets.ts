/**
 * A link with no DHCP server on it: what is sent is recorded and nothing ever answers. Enough for
 * keel-init's tests (a DHCP link must not hold the boot up for longer than its wait); the client's
 * own tests script a server on the same contract.
 */
import { Effect, Layer } from "effect"
import { DhcpSockets } from "@keelos/platform"

export interface Sent {
  readonly link: string
  readonly to: string
  readonly bytes: number
}

export const make = () => {
  const sent: Array<Sent> = []
  const layer = Layer.succeed(DhcpSockets.DhcpSockets)({
    open: (link) =>
      Effect.succeed({
        send: (message, to) => Effect.sync(() => void sent.push({ link, to, bytes: message.length })),
        receive: Effect.never
      })
  })
  return { sent, layer }
}
