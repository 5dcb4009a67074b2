import ssh2 from 'ssh2';

/**
 * An ed25519 key pair from ssh2's generator that ssh2's own parser reads back. About one key in 256
 * comes out malformed (a 31-byte key when its first byte is zero, which parseKey then refuses), so a
 * spec that took the first one would fail at random; OpenSSH's ssh-keygen has no such keys.
 */
export function ed25519KeyPair(): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) {
      return pair;
    }
  }
}
