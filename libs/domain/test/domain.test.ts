import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import { BootEnv, ReleaseMetadata, ServiceSpec, Slot, UpdateState, Version } from "../src/index.ts"

const v = (s: string) => Version.Version.make(s)

describe("Version", () => {
  it("orders by SemVer precedence", () => {
    const ordered = ["0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(Math.sign(Version.compare(v(ordered[i]!), v(ordered[j]!)))).toBe(Math.sign(i - j))
      }
    }
  })
  it("rejects what is not a version", () => {
    for (const bad of ["1.0", "01.0.0", "1.0.0+build", "v1.0.0", ""]) {
      expect(Schema.is(Version.Version)(bad)).toBe(false)
    }
  })
})

describe("Slot", () => {
  it("pairs each slot with the other and with its label", () => {
    expect(Slot.other("A")).toBe("B")
    expect(Slot.other("B")).toBe("A")
    expect(Slot.rootLabel("B")).toBe("KEELOS_ROOT_B")
  })
})

describe("BootEnv", () => {
  it("knows a trial boot from a fallback", () => {
    const trial = new BootEnv.BootEnv({ active: "A", next: "B", tries: 2, booted: "B" })
    const fallback = new BootEnv.BootEnv({ active: "A", next: null, tries: 0, booted: "A" })
    expect(trial.onTrial).toBe(true)
    expect(fallback.onTrial).toBe(false)
  })
  it("refuses tries GRUB cannot count", () => {
    expect(() => new BootEnv.BootEnv({ active: "A", next: "B", tries: 4, booted: null })).toThrow()
  })
})

describe("ReleaseMetadata", () => {
  const doc = {
    schema: 1,
    version: "1.2.0",
    channel: "stable",
    arch: "amd64",
    min_compatible_version: "1.0.0",
    release_date: "2026-11-01T00:00:00Z",
    expires: "2026-12-01T00:00:00Z",
    release_notes: "fixes",
    image: { url: "https://example/os.img", size: 10, sha256: "a".repeat(64) },
    deltas: [{ from_version: "1.1.0", from_sha256: "c".repeat(64), from_size: 100, url: "https://example/d", size: 3, sha256: "b".repeat(64) }],
    signing_key: { id: "0123456789abcdef", development: false }
  }
  const decode = Schema.decodeUnknownExit(ReleaseMetadata.ReleaseMetadata)
  it("decodes latest.json", () => {
    const exit = decode(doc)
    expect(exit._tag).toBe("Success")
  })
  it.each([
    ["an unknown arch", { ...doc, arch: "riscv" }],
    ["a bad digest", { ...doc, image: { ...doc.image, sha256: "XYZ" } }],
    ["a missing expiry", { ...doc, expires: undefined }],
    ["a future schema", { ...doc, schema: 2 }],
    ["no signing key", { ...doc, signing_key: undefined }]
  ])("refuses %s", (_, bad) => {
    expect(decode(bad)._tag).toBe("Failure")
  })
})

describe("UpdateState", () => {
  it("round-trips through JSON", () => {
    const codec = Schema.fromJsonString(Schema.toCodecJson(UpdateState.UpdateState))
    const state = new UpdateState.UpdateState({
      phase: "activated", attempt: 1, fromVersion: v("1.0.0"), toVersion: v("1.1.0"), targetSlot: "B",
      lastError: null, startedAtMillis: 5, updatedAtMillis: 9,
      slots: { A: null, B: { version: v("1.1.0"), sha256: "a".repeat(64), sizeBytes: 10, verifiedAtMillis: 8 } },
      download: null, rolledBack: [v("1.0.5")], healthTimeoutMillis: 60000
    })
    const text = Schema.encodeSync(codec)(state)
    expect(Schema.decodeSync(codec)(text)).toEqual(state)
  })
})

describe("ServiceSpec", () => {
  const service = {
    kind: "service", name: "containerd", command: "/usr/bin/containerd", args: [], env: {}, restart: "permanent",
    shutdownGraceMillis: 10000, dependsOn: [], readiness: { _tag: "UnixSocket", path: "/run/containerd/containerd.sock" },
    readyTimeoutMillis: 30000, backoff: { initialMillis: 100, maxMillis: 5000, resetAfterMillis: 60000 }, optional: false
  }
  it("refuses a relative command", () => {
    expect(Schema.decodeUnknownExit(ServiceSpec.ServiceSpec)({ ...service, command: "containerd" })._tag).toBe("Failure")
    expect(Schema.decodeUnknownExit(ServiceSpec.ServiceSpec)(service)._tag).toBe("Success")
  })
  it("decodes a tree of groups and services", () => {
    const tree = {
      kind: "group", name: "root", restart: "permanent", strategy: "one_for_one", maxRestarts: 5, periodMillis: 60000,
      dependsOn: [], backoff: service.backoff,
      children: [
        { kind: "group", name: "runtime", restart: "permanent", strategy: "rest_for_one", maxRestarts: 3, periodMillis: 30000,
          dependsOn: [], backoff: service.backoff, children: [service, { ...service, name: "kubelet", command: "/usr/bin/kubelet", dependsOn: ["containerd"], optional: true }] },
        { ...service, name: "keel-agent", command: "/usr/lib/keel/keel-agent" }
      ]
    }
    const decoded = Schema.decodeUnknownSync(ServiceSpec.ChildSpec)(tree)
    expect(decoded.kind === "group" && decoded.children[0]?.kind === "group" && decoded.children[0].children[1]?.name).toBe("kubelet")
    expect(Schema.decodeUnknownExit(ServiceSpec.ChildSpec)({ ...tree, strategy: "simple_one_for_one" })._tag).toBe("Failure")
  })
})
