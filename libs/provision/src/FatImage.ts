/**
 * A FAT12 volume image (a 1.44 MB floppy geometry) holding a few small files in its root directory:
 * enough for a NoCloud seed labelled CIDATA, written without mtools or mkfs on the operator's
 * machine. Files get 8.3 names where they fit and a VFAT long name always, so `meta-data`,
 * `network-config` and `user-data` read back by their real names. And the label of such a volume.
 */

const sectorBytes = 512
const totalSectors = 2880
const reservedSectors = 1
const fatCount = 2
const sectorsPerFat = 9
const rootEntries = 224
const rootSectors = (rootEntries * 32) / sectorBytes
const firstDataSector = reservedSectors + fatCount * sectorsPerFat + rootSectors
const clusterCount = totalSectors - firstDataSector

export interface FatFile {
  readonly name: string
  readonly content: Uint8Array
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))

const shortName = (index: number) => ascii(`SEED${String(index).padStart(4, "0")}   `)

const checksum = (name: Uint8Array) => {
  let sum = 0
  for (const byte of name) sum = (((sum & 1) << 7) + (sum >> 1) + byte) & 0xff
  return sum
}

/** The VFAT long-name entries for `name` (last first, as they sit on disk). */
const longNameEntries = (name: string, short: Uint8Array): Array<Uint8Array> => {
  const units = [...name].map((c) => c.charCodeAt(0))
  const parts: Array<Array<number>> = []
  for (let i = 0; i < units.length; i += 13) parts.push(units.slice(i, i + 13))
  const sum = checksum(short)
  return parts.map((part, i) => {
    const entry = new Uint8Array(32)
    const chars = [...part, ...(part.length < 13 ? [0] : [])]
    while (chars.length < 13) chars.push(0xffff)
    entry[0] = (i + 1) | (i === parts.length - 1 ? 0x40 : 0)
    const slots = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]
    slots.forEach((at, k) => {
      entry[at] = chars[k]! & 0xff
      entry[at + 1] = chars[k]! >> 8
    })
    entry[11] = 0x0f
    entry[13] = sum
    return entry
  }).reverse()
}

/** A FAT12 image labelled `label` (at most 11 characters, upper case) holding `files` in its root. */
export const make = (label: string, files: ReadonlyArray<FatFile>): Uint8Array => {
  if (!/^[A-Z0-9_-]{1,11}$/.test(label)) throw new Error(`FAT label ${JSON.stringify(label)}: 1 to 11 of A-Z 0-9 _ -`)
  const image = new Uint8Array(totalSectors * sectorBytes)
  const view = new DataView(image.buffer)
  // Boot sector: BIOS parameter block of a 1.44 MB floppy.
  image.set([0xeb, 0x3c, 0x90], 0)
  image.set(ascii("KEELOS  "), 3)
  view.setUint16(11, sectorBytes, true)
  image[13] = 1 // sectors per cluster
  view.setUint16(14, reservedSectors, true)
  image[16] = fatCount
  view.setUint16(17, rootEntries, true)
  view.setUint16(19, totalSectors, true)
  image[21] = 0xf0 // media descriptor
  view.setUint16(22, sectorsPerFat, true)
  view.setUint16(24, 18, true) // sectors per track
  view.setUint16(26, 2, true) // heads
  image[38] = 0x29 // extended boot signature
  view.setUint32(39, 0x4b45454c, true) // volume id "KEEL"
  image.set(ascii(label.padEnd(11, " ")), 43)
  image.set(ascii("FAT12   "), 54)
  image[510] = 0x55
  image[511] = 0xaa

  const fat = new Uint8Array(sectorsPerFat * sectorBytes)
  const setFat = (cluster: number, value: number) => {
    const at = Math.floor((cluster * 3) / 2)
    if (cluster % 2 === 0) {
      fat[at] = value & 0xff
      fat[at + 1] = (fat[at + 1]! & 0xf0) | ((value >> 8) & 0x0f)
    } else {
      fat[at] = (fat[at]! & 0x0f) | ((value << 4) & 0xf0)
      fat[at + 1] = (value >> 4) & 0xff
    }
  }
  setFat(0, 0xff0)
  setFat(1, 0xfff)

  const root = new Uint8Array(rootSectors * sectorBytes)
  let rootAt = 0
  const addEntry = (entry: Uint8Array) => {
    if (rootAt + 32 > root.length) throw new Error("too many files for the FAT root directory")
    root.set(entry, rootAt)
    rootAt += 32
  }
  const labelEntry = new Uint8Array(32)
  labelEntry.set(ascii(label.padEnd(11, " ")), 0)
  labelEntry[11] = 0x08
  addEntry(labelEntry)

  let nextCluster = 2
  files.forEach((file, index) => {
    const clusters = Math.max(1, Math.ceil(file.content.length / sectorBytes))
    if (nextCluster - 2 + clusters > clusterCount) throw new Error("the files do not fit a 1.44 MB FAT volume")
    const first = file.content.length === 0 ? 0 : nextCluster
    if (file.content.length > 0) {
      for (let c = 0; c < clusters; c++) setFat(nextCluster + c, c === clusters - 1 ? 0xfff : nextCluster + c + 1)
      image.set(file.content, (firstDataSector + nextCluster - 2) * sectorBytes)
      nextCluster += clusters
    }
    const short = shortName(index)
    for (const entry of longNameEntries(file.name, short)) addEntry(entry)
    const entry = new Uint8Array(32)
    const entryView = new DataView(entry.buffer)
    entry.set(short, 0)
    entry[11] = 0x20 // archive
    entryView.setUint16(26, first, true)
    entryView.setUint32(28, file.content.length, true)
    addEntry(entry)
  })

  for (let copy = 0; copy < fatCount; copy++) image.set(fat, (reservedSectors + copy * sectorsPerFat) * sectorBytes)
  image.set(root, (reservedSectors + fatCount * sectorsPerFat) * sectorBytes)
  return image
}

/** The label of a FAT12/16 or FAT32 volume from its boot sector; undefined when it is not FAT. */
export const labelOf = (bootSector: Uint8Array): string | undefined => {
  if (bootSector.length < 512 || bootSector[510] !== 0x55 || bootSector[511] !== 0xaa) return undefined
  const text = (at: number, length: number) => String.fromCharCode(...bootSector.subarray(at, at + length))
  if (text(82, 5) === "FAT32") return text(71, 11).trimEnd()
  if (text(54, 3) === "FAT") return text(43, 11).trimEnd()
  return undefined
}
