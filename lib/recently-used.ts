/**
 * A bounded map that forgets its least recently used entry first: what the package remembers
 * about statements (compiled shapes, recurring texts, slow texts) when input can vary them at will.
 */

/** Entries up to `max`, the least recently used evicted first. */
export class RecentlyUsed<K, V> {
  /** Insertion order is use order: a use re-inserts. */
  readonly #entries = new Map<K, V>();

  /** @param max entries kept (at least 1). */
  constructor(readonly max: number) {}

  /** The value for `key`, marked most recently used; undefined when absent. Never throws. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  /** Whether `key` is kept, without marking it used. Never throws. */
  has(key: K): boolean {
    return this.#entries.size > 0 && this.#entries.has(key);
  }

  /** Keeps `value` for `key` as the most recently used, evicting the least recently used past `max`. Never throws. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Forgets `key`; whether it was kept. Never throws. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }
}
