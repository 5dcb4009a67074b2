/**
 * The named prepared statements of one connection: which statement text runs under which name,
 * at most `max` of them, least recently used first out. Names are this connection's own and never
 * reused (`kr_1`, `kr_2`, …), so a statement the server kept after the client forgot it (or the
 * reverse) can never collide with another text under the same name.
 */

/** Named statements of one connection, bounded, least recently used evicted first. */
export class PreparedStatementCache {
  readonly #max: number;
  /** Statement text to name, in use order (a Map keeps insertion order; a hit re-inserts). */
  readonly #names = new Map<string, string>();
  /** Names evicted or invalidated whose server-side statement may still exist. */
  #stale: string[] = [];
  #counter = 0;

  /** @param max how many statements to keep (at least 1). */
  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  /** How many statements are kept. */
  get size(): number {
    return this.#names.size;
  }

  /**
   * The name `text` runs under, a new one when it has none; marks it most recently used and
   * evicts the least recently used past the bound (see takeStale). Never throws.
   */
  nameFor(text: string): string {
    const known = this.#names.get(text);
    if (known !== undefined) {
      if (this.#names.size > 1) {
        this.#names.delete(text);
        this.#names.set(text, known);
      }
      return known;
    }
    const name = `kr_${++this.#counter}`;
    this.#names.set(text, name);
    if (this.#names.size > this.#max) {
      const [oldestText, oldestName] = this.#names.entries().next().value as [string, string];
      this.#names.delete(oldestText);
      this.#stale.push(oldestName);
    }
    return name;
  }

  /** Forgets `text`'s statement (its plan went stale): the next use prepares it under a new name. */
  invalidate(text: string): void {
    const name = this.#names.get(text);
    if (name === undefined) return;
    this.#names.delete(text);
    this.#stale.push(name);
  }

  /** Whether names are waiting to be deallocated. */
  get hasStale(): boolean {
    return this.#stale.length > 0;
  }

  /** The names to deallocate on the server, handed over once. */
  takeStale(): string[] {
    const stale = this.#stale;
    this.#stale = [];
    return stale;
  }
}
