/**
 * SSH host keys: OpenSSH's `SHA256:` fingerprint of a key, and the check of a received key
 * against the pinned one.
 */
import { createHash } from 'node:crypto';

/**
 * The OpenSSH fingerprint of a public host key blob (the wire format ssh2 hands a host
 * verifier): `SHA256:` and the unpadded base64 of its SHA-256, as `ssh-keygen -lf` prints it.
 * Never throws.
 *
 * @example
 * sshFingerprint(key); // 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s'
 */
export function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The outcome of checking a received host key. */
export type HostKeyVerdict =
  | { readonly accepted: true; readonly received: string; readonly pinned: boolean }
  | { readonly accepted: false; readonly received: string; readonly expected: string | undefined };

/**
 * Decides whether a received host key may be trusted: it must match `expected` when one is
 * pinned; with none pinned it is accepted only when `acceptUnknown` is true. Never throws.
 *
 * @example
 * verifyHostKey(key, 'SHA256:…', false); // { accepted: false, received, expected } on a mismatch
 */
export function verifyHostKey(key: Buffer, expected: string | undefined, acceptUnknown: boolean): HostKeyVerdict {
  const received = sshFingerprint(key);
  if (expected !== undefined) {
    // fingerprints are public: no need for a constant-time comparison
    return received === expected ? { accepted: true, received, pinned: true } : { accepted: false, received, expected };
  }
  return acceptUnknown ? { accepted: true, received, pinned: false } : { accepted: false, received, expected };
}
