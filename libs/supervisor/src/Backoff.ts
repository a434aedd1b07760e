/**
 * The delay before a restart: exponential from `initialMillis`, capped at `maxMillis`, and back to
 * the start once the service has run for `resetAfterMillis` (it was stable, so this is a new
 * failure, not the same one again). Pure.
 */
import type { ServiceSpec } from "@keelos/domain"

/** Consecutive failures after an exit, given how long the service ran. */
export const consecutiveAfter = (previous: number, ranMillis: number, backoff: ServiceSpec.Backoff): number =>
  ranMillis >= backoff.resetAfterMillis ? 1 : previous + 1

/** Delay before restart number `consecutive` (1-based) of a failure streak. */
export const delayMillis = (consecutive: number, backoff: ServiceSpec.Backoff): number =>
  Math.min(backoff.maxMillis, backoff.initialMillis * 2 ** Math.min(Math.max(consecutive - 1, 0), 30))
