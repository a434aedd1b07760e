/**
 * OTP restart intensity as a sliding window on the monotonic clock: more than `maxRestarts`
 * restarts within `periodMillis` means the group cannot keep its children up, and it escalates.
 * Pure, so the window is tested without time.
 */

export interface Verdict {
  /** Restart times still inside the window, including this one. */
  readonly window: ReadonlyArray<number>
  readonly exceeded: boolean
}

export const record = (window: ReadonlyArray<number>, nowMillis: number, maxRestarts: number, periodMillis: number): Verdict => {
  const recent = [...window.filter((t) => nowMillis - t < periodMillis), nowMillis]
  return { window: recent, exceeded: recent.length > maxRestarts }
}
