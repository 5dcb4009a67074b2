/**
 * Random padding for ssh2's outgoing AES-GCM packets from a block of CSPRNG bytes, instead of
 * one `crypto.randomFillSync` call per packet.
 *
 * ssh2 fills each packet's 4 to 19 padding bytes with its own `randomFillSync` call, which costs
 * about 1.5 µs in Node 20 (a crypto job object per call): through a tunnel that carries one small
 * packet per query, it was a quarter of the client's CPU on `SELECT 1`. The bytes here still come
 * from `randomFillSync`, 4 KiB at a time, and each is handed out once: the same bytes the
 * per-packet calls would give, as OpenSSH's own padding comes from its buffered arc4random.
 *
 * Only ssh2's native AES-GCM cipher (its default on CPUs with AES instructions) is changed, and
 * only after checking that the replacement lays a packet out exactly as ssh2's own allocPacket
 * does; any other cipher, or another ssh2 whose packets differ, is left as it is.
 */
import { randomFillSync } from 'node:crypto';

const BLOCK_BYTES = 4096;
/** ssh2's native AES-GCM cipher class (ssh2 1.17 lib/protocol/crypto.js). */
const GCM_CLASS = 'AESGCMCipherBinding';
const GCM_BLOCK = 16;
const GCM_TAG = 16;

/** Cryptographically random bytes, made a block at a time; each byte is handed out once. */
class RandomBytes {
  readonly #block = Buffer.allocUnsafe(BLOCK_BYTES);
  #offset = BLOCK_BYTES;

  /** Writes `length` (at most a block) fresh random bytes into `target` at `offset`. */
  fill(target: Buffer, offset: number, length: number): void {
    if (this.#offset + length > BLOCK_BYTES) {
      randomFillSync(this.#block);
      this.#offset = 0;
    }
    this.#block.copy(target, offset, this.#offset, this.#offset + length);
    this.#offset += length;
  }
}

/** The part of an ssh2 outbound cipher this module replaces. */
interface OutboundCipher {
  allocPacket(payloadLength: number): Buffer;
}

/** ssh2's AES-GCM packet layout: length, padding length, payload, 4+ padding bytes to a multiple of 16, tag. */
function gcmPacket(random: RandomBytes, payloadLength: number): Buffer {
  let packetLength = 4 + 1 + payloadLength;
  let padding = GCM_BLOCK - ((packetLength - 4) & (GCM_BLOCK - 1));
  if (padding < 4) padding += GCM_BLOCK;
  packetLength += padding;
  const packet = Buffer.allocUnsafe(packetLength + GCM_TAG);
  packet.writeUInt32BE(packetLength - 4, 0);
  packet[4] = padding;
  random.fill(packet, 5 + payloadLength, padding);
  return packet;
}

/** Whether `replacement` makes packets of the same length and header as `original`, for every padding case. */
function sameLayout(original: OutboundCipher['allocPacket'], replacement: OutboundCipher['allocPacket']): boolean {
  for (let payloadLength = 0; payloadLength <= 2 * GCM_BLOCK; payloadLength++) {
    const a = original(payloadLength);
    const b = replacement(payloadLength);
    if (a.length !== b.length || a.readUInt32BE(0) !== b.readUInt32BE(0) || a[4] !== b[4]) return false;
  }
  return true;
}

/**
 * Gives one ssh2 connection's packets their padding from a block of random bytes (see the module
 * comment). Call it whenever convenient: it looks at the connection's current cipher, which a
 * rekey replaces, and does nothing for a cipher it already handled or does not know.
 * Never throws.
 */
export class PacketPadding {
  readonly #random = new RandomBytes();
  readonly #seen = new WeakSet<object>();

  /** Applies to the current outbound cipher of `client` (an ssh2 Client), once per cipher. */
  apply(client: object): void {
    const cipher = (client as { _protocol?: { _cipher?: unknown } })._protocol?._cipher;
    if (typeof cipher !== 'object' || cipher === null || this.#seen.has(cipher)) return;
    this.#seen.add(cipher);
    const outbound = cipher as Partial<OutboundCipher>;
    if (cipher.constructor.name !== GCM_CLASS || typeof outbound.allocPacket !== 'function') return;
    const original = outbound.allocPacket.bind(cipher);
    const replacement = (payloadLength: number): Buffer => gcmPacket(this.#random, payloadLength);
    if (sameLayout(original, replacement)) outbound.allocPacket = replacement;
  }
}
