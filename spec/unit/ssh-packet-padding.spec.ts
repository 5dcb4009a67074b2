import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  PacketPadding,
  paddingSelfTest,
  ssh2GcmPair,
  type GcmPair,
} from '../../lib/connection/ssh/ssh-packet-padding.js';

/** A real ssh2 AES-GCM cipher and the decipher for its packets, on fresh keys (the binding is there: see before()). */
function gcmPair(): GcmPair {
  return ssh2GcmPair()!;
}

/** Encrypts `payload` the way ssh2's Protocol does: allocPacket, copy the payload in, encrypt. */
function send(cipher: GcmPair['cipher'], payload: Buffer): void {
  const packet = cipher.allocPacket(payload.length);
  payload.copy(packet, 5);
  cipher.encrypt(packet);
}

describe('PacketPadding (ssh2 packet padding from a block of random bytes)', function () {
  before(function () {
    if (ssh2GcmPair() === undefined) {
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
