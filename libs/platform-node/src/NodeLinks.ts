/**
 * Bringing a link up with SIOCGIFFLAGS/SIOCSIFFLAGS on a datagram socket (boot.md experiment 1):
 * no `ip`, no netlink, enough for loopback in early boot.
 */
import { Effect, Layer } from "effect"
import { Links } from "@keelos/platform"
import { Errno, errnoName, libc } from "./internal/libc.ts"

const AF_INET = 2
const SOCK_DGRAM = 2
const SIOCGIFFLAGS = 0x8913
const SIOCSIFFLAGS = 0x8914
const IFF_UP = 0x1
const IFNAMSIZ = 16

const failure = (name: string, errno: number, call: string) =>
  new Links.LinkError({
    operation: "up",
    link: name,
    reason: errno === Errno.ENODEV || errno === Errno.ENXIO ? "NotFound" : errno === Errno.EPERM || errno === Errno.EACCES ? "NotPermitted" : "Io",
    detail: `${call}: ${errnoName(errno)}`
  })

export const make: Links.Links["Service"] = {
  up: (name) =>
    Effect.suspend(() => {
      if (Buffer.byteLength(name) >= IFNAMSIZ) return Effect.fail(failure(name, Errno.ENODEV, "name too long"))
      const c = libc()
      const fd = c.socket(AF_INET, SOCK_DGRAM, 0)
      if (fd < 0) return Effect.fail(failure(name, c.errno(), "socket"))
      try {
        const ifreq = Buffer.alloc(40)
        ifreq.write(name, 0, "utf8")
        if (c.ioctl(fd, SIOCGIFFLAGS, ifreq) !== 0) return Effect.fail(failure(name, c.errno(), "SIOCGIFFLAGS"))
        ifreq.writeUInt16LE(ifreq.readUInt16LE(IFNAMSIZ) | IFF_UP, IFNAMSIZ)
        if (c.ioctl(fd, SIOCSIFFLAGS, ifreq) !== 0) return Effect.fail(failure(name, c.errno(), "SIOCSIFFLAGS"))
        return Effect.void
      } finally {
        c.close(fd)
      }
    })
}

export const layer: Layer.Layer<Links.Links> = Layer.succeed(Links.Links)(make)
