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
 * This module is the one place the package touches ssh2's private state (a connection's
 * `_protocol._cipher`). Only ssh2's native AES-GCM cipher (its default on CPUs with AES
 * instructions) is changed, and only when, once per process, a behavioural self-test passed:
 * packets laid out by the replacement and encrypted by a real ssh2 AES-GCM cipher on fresh keys
 * are read back, payload for payload, by ssh2's own decipher. Each cipher is also checked before
 * it is changed: the replacement must lay its packets out exactly as its own allocPacket does.
 * Any other cipher, or an ssh2 that fails either check, keeps ssh2's own code.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';

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

/** The parts of ssh2's packet ciphers (lib/protocol/crypto.js) the self-test drives. */
interface Ssh2Crypto {
  readonly bindingAvailable: boolean;
  readonly CIPHER_INFO: Record<string, { readonly keyLen: number; readonly ivLen: number } | undefined>;
  createCipher(config: object): OutboundCipher & { encrypt(packet: Buffer): void };
  createDecipher(config: object): { decrypt(data: Buffer, start: number, end: number): void };
}

/** A real ssh2 AES-GCM cipher, the decipher for its packets, and what each wrote and read. */
export interface GcmPair {
  readonly cipher: OutboundCipher & { encrypt(packet: Buffer): void };
  readonly decipher: { decrypt(data: Buffer, start: number, end: number): void };
  /** The encrypted packets, as the cipher wrote them. */
  readonly written: Buffer[];
  /** The payloads the decipher read back. */
  readonly payloads: Buffer[];
}

/**
 * ssh2's native AES-GCM cipher and decipher on fresh keys, or undefined when this ssh2 has no
 * native binding or keeps its crypto module elsewhere.
 * @throws what ssh2 throws when it cannot make them.
 */
export function ssh2GcmPair(): GcmPair | undefined {
  let crypto: Ssh2Crypto;
  try {
    crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as Ssh2Crypto;
  } catch {
    return undefined;
  }
  const info = crypto.CIPHER_INFO['aes128-gcm@openssh.com'];
  if (!crypto.bindingAvailable || !info) return undefined;
  const key = randomBytes(info.keyLen);
  const iv = randomBytes(info.ivLen);
  const written: Buffer[] = [];
  const payloads: Buffer[] = [];
  const cipher = crypto.createCipher({
    outbound: {
      onWrite: (chunk: Buffer) => written.push(Buffer.from(chunk)),
      cipherInfo: info,
      cipherKey: key,
      cipherIV: iv,
      seqno: 0,
    },
  });
  const decipher = crypto.createDecipher({
    inbound: {
      onPayload: (payload: Buffer) => {
        payloads.push(Buffer.from(payload)); // returns nothing: a value would stop the decipher
      },
      decipherInfo: info,
      decipherKey: key,
      decipherIV: iv,
      seqno: 0,
    },
  });
  return { cipher, decipher, written, payloads };
}

let selfTested: boolean | undefined;

/**
 * Whether ssh2's own decipher reads back what the replacement lays out, on a real AES-GCM cipher
 * pair with fresh keys (run once per process). Never throws: false when anything differs or ssh2's
 * crypto module is not where this ssh2 version keeps it.
 */
export function paddingSelfTest(): boolean {
  selfTested ??= (() => {
    try {
      const pair = ssh2GcmPair();
      if (!pair || pair.cipher.constructor.name !== GCM_CLASS) return false;
      const random = new RandomBytes();
      const sent: Buffer[] = [];
      for (let length = 0; length <= 2 * GCM_BLOCK + 3; length++) {
        const payload = randomBytes(length);
        const packet = gcmPacket(random, length);
        payload.copy(packet, 5);
        pair.cipher.encrypt(packet);
        sent.push(payload);
      }
      const stream = Buffer.concat(pair.written);
      pair.decipher.decrypt(stream, 0, stream.length);
      return pair.payloads.length === sent.length && pair.payloads.every((payload, i) => payload.equals(sent[i]!));
    } catch {
      return false;
    }
  })();
  return selfTested;
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
    if (!paddingSelfTest()) return;
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
