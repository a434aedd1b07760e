/** Signals through process.on, buffered (bounded, newest kept) while the stream is consumed. */
import { Effect, Layer, Queue, Stream } from "effect"
import { Signals } from "@keelos/platform"

export const make: Signals.Signals["Service"] = {
  receive: (signals) =>
    Stream.callback<Signals.Signal>((queue) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const handlers = signals.map((signal) => {
            const handler = () => void Queue.offerUnsafe(queue, signal)
            process.on(signal, handler)
            return [signal, handler] as const
          })
          return handlers
        }),
        (handlers) => Effect.sync(() => handlers.forEach(([signal, handler]) => process.off(signal, handler)))
      ), { bufferSize: 64, strategy: "sliding" })
}

export const layer: Layer.Layer<Signals.Signals> = Layer.succeed(Signals.Signals)(make)
