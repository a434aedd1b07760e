/** A bounded buffer that keeps the newest entries: per-service logs and event journals. */
export class Ring<A> {
  private readonly items: Array<A> = []
  private dropped = 0
  readonly capacity: number

  constructor(capacity: number) {
    this.capacity = capacity
  }

  push(item: A): void {
    this.items.push(item)
    if (this.items.length > this.capacity) {
      this.items.shift()
      this.dropped++
    }
  }

  /** Oldest first. */
  toArray(): ReadonlyArray<A> {
    return this.items.slice()
  }

  /** Entries that fell out of the buffer. */
  get droppedCount(): number {
    return this.dropped
  }
}
