import { describe, expect, it } from "vitest"
import { Result } from "effect"
import { Window } from "../src/index.ts"

const parse = (text: string) => Result.getOrThrow(Window.parse(text))
/** Monday 30 November 2026, 12:00 UTC. */
const monday = Date.UTC(2026, 10, 30, 12)
const iso = (o: Window.Opening) => [new Date(o.startMillis).toISOString(), new Date(o.endMillis).toISOString()]

describe("maintenance windows", () => {
  it("parses days, times and crossing midnight; normalizes the text", () => {
    expect(parse("Sat 02:00-04:00 UTC")).toMatchObject({ days: [6], startMinute: 120, endMinute: 240, text: "Sat 02:00-04:00 UTC" })
    expect(parse("wed,mon 22:00-01:30 utc").text).toBe("Mon,Wed 22:00-01:30 UTC")
    expect(parse("daily 03:00-03:30 UTC").days).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(Window.lengthMillis(parse("Mon 22:00-01:30 UTC"))).toBe(3.5 * 3_600_000)
  })

  it.each([
    ["Sat 02:00-04:00", /DAYS HH:MM-HH:MM UTC/],
    ["Sat 02:00-04:00 CET", /DAYS HH:MM-HH:MM UTC/],
    ["Caturday 02:00-04:00 UTC", /days are Mon\.\.Sun/],
    ["Sat 2:00-04:00 UTC", /DAYS HH:MM-HH:MM UTC/],
    ["Sat 24:00-04:00 UTC", /DAYS HH:MM-HH:MM UTC/],
    ["Sat 04:00-04:00 UTC", /must not be empty/]
  ])("refuses %s", (text, message) => {
    const parsed = Window.parse(text)
    expect(Result.isFailure(parsed) && parsed.failure).toMatch(message)
  })

  it("finds the next opening, or the one we are in", () => {
    expect(iso(Window.next(parse("Sat 02:00-04:00 UTC"), monday))).toEqual(["2026-12-05T02:00:00.000Z", "2026-12-05T04:00:00.000Z"])
    expect(iso(Window.next(parse("Mon 11:00-13:00 UTC"), monday))).toEqual(["2026-11-30T11:00:00.000Z", "2026-11-30T13:00:00.000Z"])
    expect(iso(Window.next(parse("Mon 10:00-11:00 UTC"), monday))).toEqual(["2026-12-07T10:00:00.000Z", "2026-12-07T11:00:00.000Z"])
    // Opened Sunday 23:00, still open Monday 00:30.
    expect(iso(Window.next(parse("Sun 23:00-01:00 UTC"), Date.UTC(2026, 10, 30, 0, 30)))).toEqual(["2026-11-29T23:00:00.000Z", "2026-11-30T01:00:00.000Z"])
    expect(iso(Window.next(parse("daily 03:00-04:00 UTC"), monday))).toEqual(["2026-12-01T03:00:00.000Z", "2026-12-01T04:00:00.000Z"])
  })
})
