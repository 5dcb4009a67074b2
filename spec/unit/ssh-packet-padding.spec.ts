import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { PacketPadding, paddingSelfTest } from '../../lib/connection/ssh-packet-padding.js';

/** The parts of ssh2's packet ciphers (lib/protocol/crypto.js) these specs drive. */
interface Cipher {
  allocPacket(payloadLength: number): Buffer;
  encrypt(packet: Buffer): void;
}
interface Decipher {
  decrypt(data: Buffer, start: number, end: number): void;
}
interface Ssh2Crypto {
  readonly bindingAvailable: boolean;
  readonly CIPHER_INFO: Record<string, { readonly keyLen: number; readonly ivLen: number }>;
  createCipher(config: object): Cipher;
  createDecipher(config: object): Decipher;
}

const ssh2Crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto.js') as Ssh2Crypto;
const GCM = 'aes128-gcm@openssh.com';

/** A real ssh2 AES-GCM cipher and the decipher for its packets, on fresh keys. */
function gcmPair(): { cipher: Cipher; decipher: Decipher; written: Buffer[]; payloads: Buffer[] } {
  const info = ssh2Crypto.CIPHER_INFO[GCM]!;
  const key = randomBytes(info.keyLen);
  const iv = randomBytes(info.ivLen);
  const written: Buffer[] = [];
  const payloads: Buffer[] = [];
  const cipher = ssh2Crypto.createCipher({
    outbound: {
      onWrite: (chunk: Buffer) => written.push(Buffer.from(chunk)),
      cipherInfo: info,
      cipherKey: key,
      cipherIV: iv,
      seqno: 0,
    },
  });
  const decipher = ssh2Crypto.createDecipher({
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

/** Encrypts `payload` the way ssh2's Protocol does: allocPacket, copy the payload in, encrypt. */
function send(cipher: Cipher, payload: Buffer): void {
  const packet = cipher.allocPacket(payload.length);
  payload.copy(packet, 5);
  cipher.encrypt(packet);
}

describe('PacketPadding (ssh2 packet padding from a block of random bytes)', function () {
  before(function () {
    if (!ssh2Crypto.bindingAvailable) {
      process.stdout.write(
        '    skipped: ssh2 was installed without its native crypto binding, so it has no native AES-GCM cipher\n',
      );
      this.skip();
    }
  });

  it("passes its load-time self-test on the installed ssh2: ssh2's own decipher reads back every payload", () => {
    expect(paddingSelfTest()).to.equal(true);
  });

  it("replaces the native AES-GCM cipher's padding, and ssh2's own decipher reads every packet back", function () {
    const { cipher, decipher, written, payloads } = gcmPair();
    const original = cipher.allocPacket;
    new PacketPadding().apply({ _protocol: { _cipher: cipher } });
    expect(cipher.allocPacket, 'replaced').to.not.equal(original);

    const sent = Array.from({ length: 200 }, (_, i) => randomBytes(i % 70));
    for (const payload of sent) send(cipher, payload);
    const stream = Buffer.concat(written);
    decipher.decrypt(stream, 0, stream.length);
    expect(payloads).to.deep.equal(sent);
  });

  it('hands out padding bytes once: no two packets carry the same padding', function () {
    const { cipher } = gcmPair();
    new PacketPadding().apply({ _protocol: { _cipher: cipher } });
    const paddings = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const packet = cipher.allocPacket(11); // 4 + 1 + 11 = 16 bytes: 16 padding bytes
      paddings.add(packet.subarray(16, 32).toString('hex'));
    }
    expect(paddings.size).to.equal(2_000);
  });

  it('leaves other ciphers, and a cipher whose packets are laid out differently, as they are', function () {
    class GenericCipherBinding {
      allocPacket(payloadLength: number): Buffer {
        return Buffer.alloc(payloadLength + 24);
      }
    }
    class AESGCMCipherBinding {
      allocPacket(payloadLength: number): Buffer {
        return Buffer.alloc(payloadLength + 40); // not ssh2 1.17's layout
      }
    }
    const padding = new PacketPadding();
    for (const cipher of [new GenericCipherBinding(), new AESGCMCipherBinding()]) {
      const original = cipher.allocPacket;
      padding.apply({ _protocol: { _cipher: cipher } });
      expect(cipher.allocPacket).to.equal(original);
    }
    expect(() => padding.apply({}), 'a client that has not connected').to.not.throw();
  });
});
