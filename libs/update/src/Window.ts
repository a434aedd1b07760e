/**
 * Maintenance windows: `Sat 02:00-04:00 UTC`, `Mon,Wed 22:00-01:30 UTC` (a window may cross
 * midnight; it belongs to the day it opens), `daily 03:00-03:30 UTC`. Times are UTC (an explicit
 * `UTC` suffix is required, so nobody reads them as local time). Pure: the caller brings the time.
 */
import { Result } from "effect"

export interface Window {
  /** Days it opens on, 0 = Sunday. */
  readonly days: ReadonlyArray<number>
  /** Minutes after midnight UTC. */
  readonly startMinute: number
  readonly endMinute: number
  /** The text it was parsed from, normalized. */
  readonly text: string
}

const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
const minuteMillis = 60_000
const dayMillis = 86_400_000

const usage = `a window is DAYS HH:MM-HH:MM UTC, e.g. "Sat 02:00-04:00 UTC", "Mon,Thu 22:00-01:00 UTC" or "daily 03:00-04:00 UTC"`

const clock = (text: string): number | undefined => {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text)
  return match === null ? undefined : Number(match[1]) * 60 + Number(match[2])
}

export const parse = (text: string): Result.Result<Window, string> => {
  const parts = text.trim().split(/\s+/)
  if (parts.length !== 3 || parts[2]!.toUpperCase() !== "UTC") return Result.fail(`${JSON.stringify(text)}: ${usage}`)
  const [daysText, range] = parts as [string, string]
  const days = daysText.toLowerCase() === "daily"
    ? [0, 1, 2, 3, 4, 5, 6]
    : daysText.toLowerCase().split(",").map((d) => dayNames.indexOf(d.slice(0, 3)))
  if (days.some((d) => d < 0)) return Result.fail(`${JSON.stringify(daysText)}: days are Mon..Sun, comma-separated, or daily`)
  const [from, to] = range.split("-")
  const startMinute = clock(from ?? "")
  const endMinute = clock(to ?? "")
  if (startMinute === undefined || endMinute === undefined) return Result.fail(`${JSON.stringify(range)}: ${usage}`)
  if (startMinute === endMinute) return Result.fail(`${JSON.stringify(range)}: the window must not be empty`)
  const sorted = [...new Set(days)].sort()
  const normalized = `${sorted.length === 7 ? "daily" : sorted.map((d) => dayNames[d]![0]!.toUpperCase() + dayNames[d]!.slice(1)).join(",")} ${from}-${to} UTC`
  return Result.succeed({ days: sorted, startMinute, endMinute, text: normalized })
}

/** Length of one opening in milliseconds (crossing midnight when the end is before the start). */
export const lengthMillis = (window: Window): number =>
  ((window.endMinute - window.startMinute + 24 * 60) % (24 * 60)) * minuteMillis

export interface Opening {
  readonly startMillis: number
  readonly endMillis: number
}

/**
 * The opening that contains `nowMillis`, else the next one to start. An opening that began the day
 * before and is still open counts as containing now.
 */
export const next = (window: Window, nowMillis: number): Opening => {
  const today = Math.floor(nowMillis / dayMillis) * dayMillis
  for (let day = -1; day <= 7; day++) {
    const midnight = today + day * dayMillis
    // 1 January 1970 was a Thursday (day 4).
    const weekday = (((Math.floor(midnight / dayMillis) + 4) % 7) + 7) % 7
    if (!window.days.includes(weekday)) continue
    const startMillis = midnight + window.startMinute * minuteMillis
    const endMillis = startMillis + lengthMillis(window)
    if (endMillis > nowMillis) return { startMillis, endMillis }
  }
  // Unreachable for a window with at least one day: every week has an opening.
  return { startMillis: nowMillis, endMillis: nowMillis }
}
