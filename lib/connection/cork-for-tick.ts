/**
 * Write coalescing for sockets: what several callers write in one tick leaves in one system call.
 */

/** The part of a Writable (a net.Socket, pg's connection stream) that corking needs. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

const corked = new WeakSet<Corkable>();

/**
 * Holds `stream` corked until the current tick's work is done (the microtasks included), so what
 * is written to it meanwhile leaves in one system call and reaches the peer in one read. Costs no
 * extra turn of the event loop; a second call in the same tick does nothing. Never throws.
 */
export function corkForTick(stream: Corkable): void {
  if (corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(() => {
    corked.delete(stream);
    stream.uncork();
  });
}
