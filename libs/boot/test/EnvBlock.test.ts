import { describe, expect, it } from "vitest"
import { Result } from "effect"
import * as EnvBlock from "../src/EnvBlock.ts"

const text = (block: Uint8Array) => new TextDecoder().decode(block)
const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(String(r.failure))
  return r.success
}
const reasonOf = <A>(r: Result.Result<A, EnvBlock.EnvBlockError>) => (Result.isFailure(r) ? r.failure.reason : "ok")

describe("EnvBlock", () => {
  it("creates a 1024-byte block with the signature and # padding", () => {
    const block = EnvBlock.create()
    expect(block.length).toBe(1024)
    expect(text(block).startsWith(EnvBlock.signature)).toBe(true)
    expect(text(block).endsWith("###")).toBe(true)
    expect(ok(EnvBlock.decode(block))).toEqual([])
  })

  it("escapes backslashes and newlines and reads them back", () => {
    const block = ok(EnvBlock.set(EnvBlock.create(), "v", "a\\b\nc=d#"))
    expect(text(block)).toContain("v=a\\\\b\\\nc=d#\n")
    expect(ok(EnvBlock.decode(block))).toEqual([["v", "a\\b\nc=d#"]])
  })

  it("replaces in place, keeps order, and pads at the end on unset", () => {
    let block = ok(EnvBlock.update(EnvBlock.create(), [["a", "1"], ["b", "2"], ["c", "3"]]))
    block = ok(EnvBlock.set(block, "b", "twenty"))
    expect(ok(EnvBlock.decode(block))).toEqual([["a", "1"], ["b", "twenty"], ["c", "3"]])
    block = ok(EnvBlock.unset(block, "a"))
    expect(ok(EnvBlock.decode(block))).toEqual([["b", "twenty"], ["c", "3"]])
    expect(block.length).toBe(1024)
  })

  it("does not confuse a name with a longer one that starts with it", () => {
    const block = ok(EnvBlock.update(EnvBlock.create(), [["ab", "1"], ["a", "2"], ["a", "3"]]))
    expect(ok(EnvBlock.decode(block))).toEqual([["ab", "1"], ["a", "3"]])
  })

  it("refuses a value that does not fit and leaves the input untouched", () => {
    const block = EnvBlock.create()
    const before = block.slice()
    expect(reasonOf(EnvBlock.set(block, "big", "x".repeat(1000)))).toBe("NoSpace")
    expect(block).toEqual(before)
  })

  it("refuses names GRUB cannot store", () => {
    for (const name of ["", "a=b", "a\nb", "#a"]) expect(reasonOf(EnvBlock.set(EnvBlock.create(), name, "v"))).toBe("BadName")
  })

  it("never resets a corrupt or wrong-size block silently", () => {
    expect(reasonOf(EnvBlock.decode(new Uint8Array(1023)))).toBe("WrongSize")
    expect(reasonOf(EnvBlock.decode(new Uint8Array(2048)))).toBe("WrongSize")
    const noSignature = EnvBlock.create()
    noSignature[2] = 0x78
    expect(reasonOf(EnvBlock.decode(noSignature))).toBe("BadSignature")
    const garbageInPadding = EnvBlock.create()
    garbageInPadding[1000] = 0x41
    expect(reasonOf(EnvBlock.decode(garbageInPadding))).toBe("Malformed")
    const zeroed = EnvBlock.create().fill(0, 200)
    expect(reasonOf(EnvBlock.decode(zeroed))).toBe("Malformed")
    expect(reasonOf(EnvBlock.set(zeroed, "a", "1"))).toBe("Malformed")
    expect(reasonOf(EnvBlock.unset(zeroed, "a"))).toBe("Malformed")
  })
})
