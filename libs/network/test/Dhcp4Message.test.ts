// The DHCPv4 codec: what the client sends decodes to what it meant, servers' options are read as
// RFC 2132 and RFC 3442 say, and anything malformed is refused without throwing.
import { describe, expect, it } from "vitest"
import { Dhcp4Message, Ipv4 } from "../src/index.ts"

const discover: Dhcp4Message.Message = {
  op: "request",
  xid: 0xdeadbeef,
  secs: 3,
  broadcast: true,
  ciaddr: "0.0.0.0",
  yiaddr: "0.0.0.0",
  siaddr: "0.0.0.0",
  chaddr: "52:54:00:12:34:56",
  type: "DISCOVER",
  options: new Map([[Dhcp4Message.Option.hostName, Dhcp4Message.text("node-1")], [Dhcp4Message.Option.parameterRequestList, Uint8Array.of(1, 3, 6)]])
}

describe("Dhcp4Message", () => {
  it("encodes the BOOTP frame byte for byte and decodes it back", () => {
    const bytes = Dhcp4Message.encode(discover)
    expect(bytes.length).toBe(300)
    expect([...bytes.subarray(0, 12)]).toEqual([1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 3, 0x80, 0])
    expect([...bytes.subarray(28, 34)]).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    expect([...bytes.subarray(236, 243)]).toEqual([0x63, 0x82, 0x53, 0x63, 53, 1, 1])
    expect(Dhcp4Message.decode(bytes)).toEqual(discover)
  })

  it("splits an option over 255 bytes and joins repeated options (RFC 3396)", () => {
    const long = Uint8Array.from({ length: 600 }, (_, i) => i % 251)
    const bytes = Dhcp4Message.encode({ ...discover, options: new Map([[Dhcp4Message.Option.classlessStaticRoutes, long]]) })
    expect(Dhcp4Message.decode(bytes)!.options.get(Dhcp4Message.Option.classlessStaticRoutes)).toEqual(long)
  })

  it("reads options from the file and sname fields when the overload option says so", () => {
    const bytes = Dhcp4Message.encode({ ...discover, type: "OFFER", op: "reply", options: new Map([[Dhcp4Message.Option.overload, Uint8Array.of(1)]]) })
    bytes.set([Dhcp4Message.Option.leaseTime, 4, 0, 0, 0x0e, 0x10, 255], 108)
    expect(Dhcp4Message.readU32(Dhcp4Message.decode(bytes)!.options.get(Dhcp4Message.Option.leaseTime))).toBe(3600)
  })

  it("refuses what is not a DHCP message: short, no magic cookie, no type, an option running past the end", () => {
    const good = Dhcp4Message.encode(discover)
    expect(Dhcp4Message.decode(good.subarray(0, 239))).toBeUndefined()
    const noCookie = Uint8Array.from(good)
    noCookie[236] = 0
    expect(Dhcp4Message.decode(noCookie)).toBeUndefined()
    expect(Dhcp4Message.decode(Dhcp4Message.encode({ ...discover, options: new Map() }).map((b, i) => (i === 240 ? 0 : b)))).toBeUndefined()
    const truncated = Uint8Array.from(good.subarray(0, 243 + 2))
    truncated[243] = Dhcp4Message.Option.hostName
    truncated[244] = 40
    expect(Dhcp4Message.decode(truncated)).toBeUndefined()
    // Random bytes never throw.
    for (let seed = 1; seed < 2000; seed++) {
      const noise = Uint8Array.from({ length: 240 + (seed % 90) }, (_, i) => (seed * 7919 + i * 104729) % 256)
      noise.set([0x63, 0x82, 0x53, 0x63], 236)
      noise[0] = 2
      noise[2] = 6
      expect(() => Dhcp4Message.decode(noise)).not.toThrow()
    }
  })

  it("reads classless static routes as RFC 3442 encodes them, and refuses a malformed list", () => {
    // RFC 3442's examples: 0/0 via 10.0.0.1; 10.0.0.0/8 via 10.0.0.6; 10.17.0.0/16 via 10.0.0.1; 192.168.1.0/24 via 10.0.0.12.
    const option = Uint8Array.of(0, 10, 0, 0, 1, 8, 10, 10, 0, 0, 6, 16, 10, 17, 10, 0, 0, 1, 24, 192, 168, 1, 10, 0, 0, 12)
    const routes = Dhcp4Message.readClasslessRoutes(option)
    expect(routes).toEqual([
      { destination: "0.0.0.0/0", gateway: "10.0.0.1" },
      { destination: "10.0.0.0/8", gateway: "10.0.0.6" },
      { destination: "10.17.0.0/16", gateway: "10.0.0.1" },
      { destination: "192.168.1.0/24", gateway: "10.0.0.12" }
    ])
    expect(Dhcp4Message.classlessRoutes(routes!)).toEqual(option)
    expect(Dhcp4Message.readClasslessRoutes(Uint8Array.of(33, 10, 0, 0, 0, 1))).toBeUndefined()
    expect(Dhcp4Message.readClasslessRoutes(Uint8Array.of(24, 192, 168, 1, 10, 0))).toBeUndefined()
  })

  it("reads names only when printable", () => {
    expect(Dhcp4Message.readName(Dhcp4Message.text("node-7.example\0\0"))).toBe("node-7.example")
    expect(Dhcp4Message.readName(Dhcp4Message.text("evil\nname"))).toBeUndefined()
  })
})

describe("Ipv4", () => {
  it("turns masks into prefix lengths and back, and refuses a mask with holes", () => {
    expect(["255.255.255.0", "255.255.254.0", "0.0.0.0", "255.255.255.255", "255.0.255.0"].map(Ipv4.prefixOfMask)).toEqual([24, 23, 0, 32, undefined])
    expect(Ipv4.maskOfPrefix(20)).toBe("255.255.240.0")
    expect(Ipv4.networkOf("10.17.3.4", 16)).toBe("10.17.0.0")
    expect(["10.0.0.1", "256.0.0.1", "1.2.3", "01.2.3.4"].map(Ipv4.isAddress)).toEqual([true, false, false, false])
  })
})
