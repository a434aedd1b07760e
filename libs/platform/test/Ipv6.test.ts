// IPv6 text to bytes and back: the forms RFC 4291 allows in, RFC 5952's canonical form out.
import { describe, expect, it } from "vitest"
import { Ipv6 } from "../src/index.ts"

describe("Ipv6", () => {
  it("parses the forms RFC 4291 allows and formats them canonically (RFC 5952)", () => {
    const cases: Array<[string, string]> = [
      ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
      ["::", "::"],
      ["::1", "::1"],
      ["fe80::5054:ff:fe12:3456", "fe80::5054:ff:fe12:3456"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:DB8::0:1", "2001:db8::1"],
      ["::ffff:192.0.2.128", "::ffff:c000:280"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
      ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"]
    ]
    for (const [text, canonical] of cases) expect(Ipv6.format(Ipv6.parse(text)!)).toBe(canonical)
  })

  it("refuses what is not an IPv6 address", () => {
    for (const text of ["", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7", "::1.2.3.256", "10.0.0.1"]) {
      expect(Ipv6.parse(text)).toBeUndefined()
    }
    expect([Ipv6.isCidr("fd00::5/64"), Ipv6.isCidr("fd00::5/129"), Ipv6.isCidr("fd00::5"), Ipv6.isCidr("fd00::5/64/1")]).toEqual([true, false, false, false])
  })
})
