/**
 * The SSH tunnel: every pooled pg connection is one ssh2 `forwardOut` channel over one shared
 * SSH connection per Database. (Being built: see the tunnel issue.)
 */
import type { Duplex } from 'node:stream';
import type { SshConfig } from '../config.js';
import { TunnelError } from '../errors.js';
import type { Logger } from '../logger.js';

/** What status() and health() report about the tunnel. */
export interface TunnelStatus {
  readonly state: 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';
  readonly reconnects: number;
  readonly openChannels: number;
  readonly lastError: string | undefined;
}

/** Options of SshTunnel. */
export interface SshTunnelOptions {
  readonly logger: Logger;
}

/** One SSH connection shared by a pool; each pg connection is one channel through it. */
export class SshTunnel {
  constructor(
    readonly config: SshConfig,
    readonly options: SshTunnelOptions,
  ) {}

  /** A pg `stream` factory for connections to `target` (as seen from the SSH server). */
  streamFactory(_target: { readonly host: string; readonly port: number }): () => Duplex {
    return () => {
      throw new TunnelError('the SSH tunnel is not built yet');
    };
  }

  /** The tunnel's state and counters. */
  status(): TunnelStatus {
    return { state: 'idle', reconnects: 0, openChannels: 0, lastError: undefined };
  }

  /** Ends the SSH connection. Idempotent. */
  async close(): Promise<void> {}
}
