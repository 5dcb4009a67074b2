/**
 * The socket pg talks to when it goes through the SSH tunnel: a Duplex whose `connect()` opens
 * one SSH channel and that then carries bytes to and from it. Everything else pg calls on a
 * net.Socket (`setNoDelay`, `setKeepAlive`, `ref`, `unref`) is a harmless no-op.
 */
import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { ConnectionError } from '../../errors.js';

/**
 * Opens the channel a socket carries. Resolves undefined when the socket was destroyed while it
 * waited (the opener then closes the late channel itself); rejects with a TunnelError.
 */
export type ChannelOpener = (connectArguments: readonly unknown[]) => Promise<ClientChannel | undefined>;

type WriteCallback = (error?: Error | null) => void;

/**
 * One pg connection's socket: one SSH channel. pg calls `connect(port, host)` (or
 * `connect(path)` for a Unix socket); they reach the opener, which either uses them (a pool whose
 * connections may go to one of several hosts) or opens the channel to the target it was made for. 'connect' is emitted once the channel is open — always
 * asynchronously, after pg has attached its listeners. Writes made before then are held.
 *
 * @example
 * const socket = new SshChannelSocket('db:5432', () => tunnel.openChannel(...));
 * socket.connect(5432, 'db'); // 'connect' follows when the channel is open, or 'error' (TunnelError)
 */
export class SshChannelSocket extends Duplex {
  #channel: ClientChannel | undefined;
  #connecting = false;
  #held: { chunk: Buffer; callback: WriteCallback } | undefined;
  #paused = false;
  readonly #onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) {
      this.#paused = true;
      this.#channel?.pause();
    }
  };
  readonly #onEnd = (): void => {
    this.push(null);
  };
  readonly #onClose = (): void => {
    // like a TCP FIN: the peer closed; pg reports it as a terminated connection if unexpected
    if (!this.destroyed) this.destroy();
  };
  readonly #onError = (error: Error): void => {
    this.destroy(
      new ConnectionError(`the SSH channel to ${this.target} failed: ${error.message}`, {
        cause: error,
        code: 'ECONNRESET',
      }),
    );
  };

  /**
   * Makes an unconnected socket. Has no side effects; the channel opens on `connect()`.
   * Never throws.
   */
  constructor(
    /** The database address as the SSH server sees it, for messages. */
    readonly target: string,
    private readonly openChannel: ChannelOpener,
    /** Called before each write to the channel (the tunnel coalesces a tick's writes into one). */
    private readonly beforeWrite?: () => void,
  ) {
    super({ allowHalfOpen: false, decodeStrings: true });
  }

  /**
   * Opens the channel (once; later calls do nothing). Emits 'connect' when it is open, or is
   * destroyed with the opener's TunnelError. Never throws.
   */
  connect(...connectArguments: unknown[]): this {
    if (this.#connecting || this.destroyed) return this;
    this.#connecting = true;
    this.openChannel(connectArguments).then(
      (channel) => {
        if (channel !== undefined) this.#attach(channel);
      },
      (error: unknown) => {
        this.destroy(error instanceof Error ? error : new ConnectionError(String(error)));
      },
    );
    return this;
  }

  /** No-op: Nagle is turned off on the SSH connection's own socket. Never throws. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** No-op: the SSH connection has its own keepalive. Never throws. */
  setKeepAlive(_enable?: boolean, _initialDelayMs?: number): this {
    return this;
  }

  /** No-op: the SSH connection, not a channel, holds the event loop open. Never throws. */
  ref(): this {
    return this;
  }

  /** No-op (see `ref`). Never throws. */
  unref(): this {
    return this;
  }

  #attach(channel: ClientChannel): void {
    if (this.destroyed) {
      channel.close();
      return;
    }
    this.#channel = channel;
    channel.on('data', this.#onData);
    channel.once('end', this.#onEnd);
    channel.once('close', this.#onClose);
    channel.on('error', this.#onError);
    const held = this.#held;
    this.#held = undefined;
    if (held) this.#send(held.chunk, held.callback);
    this.emit('connect');
  }

  #send(chunk: Buffer, callback: WriteCallback): void {
    const channel = this.#channel;
    if (!channel) {
      this.#held = { chunk, callback };
      return;
    }
    this.beforeWrite?.();
    if (channel.write(chunk)) callback();
    else channel.once('drain', () => callback());
  }

  /** Sends one chunk on the channel (held until it opens). Never throws. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#send(chunk, callback);
  }

  /** Sends corked chunks as one SSH packet. Never throws. */
  override _writev(chunks: { chunk: Buffer }[], callback: WriteCallback): void {
    // pg corks a query's messages (Parse, Bind, Execute, Sync): one SSH packet for all of them
    const only = chunks.length === 1 ? chunks[0] : undefined;
    this.#send(only ? only.chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  /** Resumes a channel paused because pg was not reading. Never throws. */
  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#channel?.resume();
    }
  }

  /** pg ended its side: sends EOF on the channel. Never throws. */
  override _final(callback: WriteCallback): void {
    // half-close (EOF); the server closes the channel once PostgreSQL has closed its socket
    this.#channel?.end();
    callback();
  }

  /** Closes the channel (once) and lets ssh2 finish closing it. Never throws. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const channel = this.#channel;
    this.#channel = undefined;
    this.#held = undefined; // a write held for a channel that never came: dropped with the socket
    if (channel) {
      channel.removeListener('data', this.#onData);
      channel.removeListener('end', this.#onEnd);
      channel.removeListener('close', this.#onClose);
      channel.removeListener('error', this.#onError);
      channel.on('error', () => undefined);
      channel.resume(); // let the channel drain so ssh2 can finish closing it
      channel.close();
    }
    // 'close' one turn later: a TLS socket wrapped around this one (sslmode) destroys it, without
    // an error, before it emits its own (a certificate that fails verification); pg must see that first
    setImmediate(() => callback(error));
  }
}
