/**
 * Signals delivered to this process: SIGTERM, SIGINT (Ctrl-Alt-Del as PID 1), SIGPWR (power
 * failure), SIGCHLD (a child or an adopted orphan changed state).
 */
import { Context } from "effect"
import type { Stream } from "effect"

export type Signal = "SIGTERM" | "SIGINT" | "SIGPWR" | "SIGCHLD" | "SIGHUP"

export class Signals extends Context.Service<Signals, {
  /** Each delivery of one of `signals`, while the stream is consumed. */
  readonly receive: (signals: ReadonlyArray<Signal>) => Stream.Stream<Signal>
}>()("@keelos/platform/Signals") {}
