/**
 * The SSH tunnel: every pooled pg connection is one ssh2 `forwardOut` channel over one shared
 * SSH connection per Database. No local port is opened. The SSH connection is made lazily on the
 * first pool connection, verified against the pinned host key before any credential is sent, kept
 * alive, and re-established with bounded, jittered backoff after it drops.
 */
import { connect, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, Client, ClientChannel, ConnectConfig, ParsedKey } from 'ssh2';
import type { SshConfig } from '../../config.js';
import { TunnelError } from '../../errors.js';
import { redactingLogger, type Logger } from '../../logger.js';
import type { DatabaseTelemetry } from '../../telemetry/database-telemetry.js';
import { redactText } from '../../redact.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './ssh-backoff.js';
import { corkForTick } from '../cork-for-tick.js';
import { SshChannelSocket } from './ssh-channel-socket.js';
import { PacketPadding } from './ssh-packet-padding.js';
import { verifyHostKey, type HostKeyVerdict } from './ssh-host-key.js';

/**
 * Where the tunnel is:
 * - `idle`: not connected yet (nothing has asked for a connection);
 * - `connecting`: the first SSH handshake is in progress;
 * - `ready`: the SSH connection is up;
 * - `reconnecting`: it dropped or an attempt failed; the next pool connection re-establishes it
 *   (or an attempt is in progress);
 * - `closed`: close() was called.
 */
export type TunnelState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** What status() and health() report about the tunnel. */
export interface TunnelStatus {
  readonly state: TunnelState;
  /** Times the SSH connection was re-established after it had been up. */
  readonly reconnects: number;
  /** Channels (pg connections) open now. */
  readonly openChannels: number;
  /** The last failure (handshake, authentication, host key, drop), without secrets. */
  readonly lastError: string | undefined;
  /** The SSH server's host key fingerprint (`SHA256:…`), once one was received. */
  readonly hostFingerprint: string | undefined;
  /** Channels opened since the tunnel was made. */
  readonly channelsOpened: number;
  /** SSH handshakes attempted since the tunnel was made. */
  readonly handshakes: number;
}

/** Where the database is, as the SSH server sees it. A host starting with `/` is a Unix socket directory. */
export interface TunnelTarget {
  readonly host: string;
  readonly port: number;
}

/** Options of SshTunnel. */
export interface SshTunnelOptions {
  /** Where the tunnel logs; lines are redacted of the key, passphrase and password. */
  readonly logger: Logger;
  /** Delays between attempts to re-establish the connection. (Default: 100 ms doubling to 3 s, jittered) */
  readonly backoff?: Partial<BackoffOptions>;
  /** The jitter's random source, in [0, 1). (Default: Math.random) */
  readonly random?: () => number;
  /** Makes the ssh2 Client of each connection attempt. (Default: `new Client()`) */
  readonly createClient?: () => Client;
  /** OpenTelemetry: each (re)connection attempt gets a span. (Default: none) */
  readonly telemetry?: DatabaseTelemetry | undefined;
}

/** ssh2 adds `level` to the errors it emits. */
interface Ssh2Error extends Error {
  level?: string;
  code?: unknown;
}

const CLOSE_WAIT_MS = 2_000;

function isUnixSocket(target: TunnelTarget): boolean {
  return target.host.startsWith('/');
}

/** `host:port`, or a Unix socket's path, for messages. */
function tunnelLabel(target: TunnelTarget): string {
  return isUnixSocket(target) ? `${target.host}/.s.PGSQL.${target.port}` : `${target.host}:${target.port}`;
}

function asError(value: unknown): Ssh2Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Errors ssh2 emits while authentication goes on with the next method. */
function isRecoverable(error: Ssh2Error): boolean {
  return error.level === 'agent' || (error.level === 'client-authentication' && /sign/i.test(error.message));
}

/**
 * One SSH connection shared by a pool; each pg connection is one channel through it. Making one
 * has no side effects: the SSH connection opens on the first pool connection.
 *
 * @example
 * const tunnel = new SshTunnel(config.ssh, { logger });
 * const pool = new pg.Pool({ host: 'db', port: 5432, stream: tunnel.streamFactory({ host: 'db', port: 5432 }) });
 * await pool.query('select 1');
 * await pool.end();
 * await tunnel.close();
 */
export class SshTunnel {
  readonly #logger: Logger;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #createClient: () => Client;
  readonly #secrets: readonly string[];
  readonly #server: string;
  readonly #channels = new Map<SshChannelSocket, Client>();
  readonly #ended = new WeakSet<Client>();
  /** Each client's TCP socket: ours, so it can always be destroyed (ssh2's destroy() is a no-op after end()). */
  readonly #sockets = new WeakMap<Client, Socket>();
  #state: TunnelState = 'idle';
  #client: Client | undefined;
  #handshaking: Client | undefined;
  #pending: Promise<Client> | undefined;
  #wait: { readonly timer: NodeJS.Timeout; readonly reject: (error: Error) => void } | undefined;
  #closing: Promise<void> | undefined;
  #failures = 0;
  #notBefore = 0;
  #everConnected = false;
  #reconnects = 0;
  #handshakes = 0;
  #channelsOpened = 0;
  #lastError: string | undefined;
  #fingerprint: string | undefined;
  #pinned: string | undefined;
  #key: ParsedKey | undefined;
  readonly #padding = new PacketPadding();

  /**
   * Prepares a tunnel; connects nothing. Never throws (bad credentials surface as a TunnelError
   * on the first connection).
   */
  constructor(
    readonly config: SshConfig,
    readonly options: SshTunnelOptions,
  ) {
    this.#secrets = [config.privateKey, config.passphrase, config.password].filter(
      (s): s is string => typeof s === 'string' && s !== '',
    );
    this.#logger = redactingLogger(options.logger, this.#secrets);
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#random = options.random ?? Math.random;
    this.#createClient = options.createClient ?? (() => new ssh2.Client());
    this.#server = `${config.user}@${config.host}:${config.port}`;
    this.#pinned = config.hostFingerprint;
  }

  /**
   * A pg `stream` factory for connections to `target` (as the SSH server sees it). pg calls it
   * once per new connection; each socket it returns opens one SSH channel when pg connects it,
   * and fails with a TunnelError when the SSH connection or the channel cannot be opened.
   * Never throws.
   *
   * Without `target`, each socket goes where pg connects it (`connect(port, host)`): the
   * Database's primary pool when DATABASE_URL lists several hosts.
   *
   * @example
   * new pg.Pool({ host, port, stream: tunnel.streamFactory({ host, port }) });
   */
  streamFactory(target?: TunnelTarget): () => SshChannelSocket {
    const fixed = target && tunnelLabel(target);
    return () => {
      const socket: SshChannelSocket = new SshChannelSocket(
        fixed ?? 'the host pg connects to',
        (connectArguments) => {
          const [port, host] = connectArguments;
          const to = target ?? { host: String(host), port: Number(port) };
          return this.#openFor(socket, to, fixed ?? tunnelLabel(to));
        },
        this.#coalesceWrites,
      );
      return socket;
    };
  }

  /**
   * Holds the SSH connection's socket corked until the current tick's work is done, so the SSH
   * packets that several channels write in one tick (pg connections answering a batch of results)
   * leave in one system call and reach sshd in one read. Also gives the packets their padding
   * from a block of random bytes (see PacketPadding).
   */
  readonly #coalesceWrites = (): void => {
    const client = this.#client;
    const sock = client && this.#sockets.get(client);
    if (!sock || sock.destroyed) return;
    this.#padding.apply(client);
    corkForTick(sock);
  };

  /** The tunnel's state and counters. Never throws. */
  status(): TunnelStatus {
    return {
      state: this.#state,
      reconnects: this.#reconnects,
      openChannels: this.#channels.size,
      lastError: this.#lastError,
      hostFingerprint: this.#fingerprint,
      channelsOpened: this.#channelsOpened,
      handshakes: this.#handshakes,
    };
  }

  /**
   * Ends the SSH connection: channels still open fail with a TunnelError, a handshake or backoff
   * in progress is abandoned. Call it after the pool has ended. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const wasUsed = this.#state !== 'idle';
    this.#state = 'closed';
    const wait = this.#wait;
    this.#wait = undefined;
    if (wait) {
      clearTimeout(wait.timer);
      wait.reject(this.#closedError());
    }
    // pg ends a connection by writing Terminate and then, from the write's callback, ending the
    // socket: let those callbacks run, then let the ending channels close by themselves
    await new Promise((resolve) => setImmediate(resolve));
    await this.#settle([...this.#channels.keys()].filter((socket) => socket.writableEnded));
    const stillOpen = [...this.#channels.keys()];
    if (stillOpen.length > 0) {
      this.#logger.warn('closing the SSH tunnel with channels still in use (end the pool first)', {
        server: this.#server,
        openChannels: stillOpen.length,
      });
    }
    for (const socket of stillOpen) socket.destroy(this.#closedError());
    this.#channels.clear();
    const handshaking = this.#handshaking;
    if (handshaking) this.#sockets.get(handshaking)?.destroy(); // nothing to end gracefully yet
    const client = this.#client;
    this.#client = undefined;
    if (client) await this.#end(client);
    if (wasUsed) this.#logger.info('SSH tunnel closed', { server: this.#server });
  }

  /** Lets channels that pg is already ending (Terminate sent) close by themselves, for a bounded time. */
  async #settle(sockets: SshChannelSocket[]): Promise<void> {
    const open = sockets.filter((socket) => !socket.closed);
    if (open.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((socket) => new Promise((resolve) => socket.once('close', resolve)))),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Ends a client, waiting (a bounded time) for its socket to close. */
  async #end(client: Client): Promise<void> {
    if (this.#ended.has(client)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#sockets.get(client)?.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }

  #closedError(): TunnelError {
    return new TunnelError(`the SSH tunnel to ${this.#server} is closed`, { code: 'ECONNRESET' });
  }

  /** Opens the channel of one socket; undefined when the socket gave up while it waited. */
  async #openFor(socket: SshChannelSocket, target: TunnelTarget, label: string): Promise<ClientChannel | undefined> {
    let client = await this.#connection();
    if (socket.destroyed) return undefined;
    let channel: ClientChannel;
    try {
      channel = await this.#forward(client, target, label);
    } catch (error) {
      if (this.#client === client || this.#closing || socket.destroyed) throw error;
      // the SSH connection dropped while the channel was being opened: once more, on a new one
      client = await this.#connection();
      channel = await this.#forward(client, target, label);
    }
    this.#channelsOpened += 1;
    if (socket.destroyed || this.#closing) {
      // pg gave up (connection timeout) or the tunnel closed before the channel arrived
      channel.on('error', () => undefined);
      channel.resume();
      channel.close();
      this.#logger.debug('closed an SSH channel that arrived after its connection gave up', { target: label });
      return undefined;
    }
    this.#channels.set(socket, client);
    socket.once('close', () => this.#channels.delete(socket));
    return channel;
  }

  #forward(client: Client, target: TunnelTarget, label: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const done = (error: Error | undefined, channel: ClientChannel): void => {
        if (error) {
          reject(
            new TunnelError(`the SSH server ${this.#server} refused a channel to ${label}: ${error.message}`, {
              cause: error,
            }),
          );
        } else {
          resolve(channel);
        }
      };
      try {
        if (isUnixSocket(target)) client.openssh_forwardOutStreamLocal(label, done);
        else client.forwardOut('127.0.0.1', 0, target.host, target.port, done);
      } catch (error) {
        reject(new TunnelError(`the SSH connection to ${this.#server} is not open`, { cause: error }));
      }
    });
  }

  /** The SSH connection: the open one, the one being made (shared), or a new one. */
  #connection(): Promise<Client> {
    if (this.#closing) return Promise.reject(this.#closedError());
    if (this.#client) return Promise.resolve(this.#client);
    this.#pending ??= this.#establish().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #establish(): Promise<Client> {
    const delay = this.#notBefore - Date.now();
    if (delay > 0) await this.#sleep(delay);
    if (this.#closing) throw this.#closedError();
    this.#state = this.#everConnected || this.#failures > 0 ? 'reconnecting' : 'connecting';
    const started = performance.now();
    try {
      const telemetry = this.options.telemetry;
      const attributes = {
        'server.address': this.config.host,
        'server.port': this.config.port,
        'kysely_repository.tunnel.reconnect': this.#everConnected,
      };
      const client = await (telemetry
        ? telemetry.inSpan('ssh connect', attributes, () => this.#handshake(), 'client')
        : this.#handshake());
      this.#failures = 0;
      this.#notBefore = 0;
      if (this.#everConnected) this.#reconnects += 1;
      this.#everConnected = true;
      this.#client = client;
      this.#state = 'ready';
      this.#logger.info(this.#reconnects > 0 ? 'SSH tunnel reconnected' : 'SSH tunnel connected', {
        server: this.#server,
        hostFingerprint: this.#fingerprint,
        handshakeMs: Math.round(performance.now() - started),
        reconnects: this.#reconnects,
      });
      return client;
    } catch (cause) {
      if (this.#closing) throw this.#closedError();
      const error = cause instanceof TunnelError ? cause : new TunnelError(asError(cause).message, { cause });
      this.#lastError = error.message;
      this.#state = 'reconnecting';
      const retryInMs = this.#scheduleRetry();
      this.#logger.warn('SSH tunnel could not connect', { server: this.#server, error: error.message, retryInMs });
      throw error;
    }
  }

  /** Records a failure: the next attempt waits a backoff delay. Returns the delay. */
  #scheduleRetry(): number {
    const delay = backoffDelay(this.#failures, this.#backoff, this.#random);
    this.#failures += 1;
    this.#notBefore = Date.now() + delay;
    return delay;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wait = undefined;
        resolve();
      }, ms);
      this.#wait = { timer, reject };
    });
  }

  /** The credentials to offer, in order: private key, agent, password. */
  #authMethods(): AnyAuthMethod[] {
    const { user: username, privateKey, agent, password } = this.config;
    const methods: AnyAuthMethod[] = [];
    if (privateKey !== undefined) methods.push({ type: 'publickey', username, key: this.#parsedKey(privateKey) });
    if (agent !== undefined) methods.push({ type: 'agent', username, agent });
    if (password !== undefined) methods.push({ type: 'password', username, password });
    if (methods.length === 0) {
      throw new TunnelError(
        `no SSH credentials for ${this.#server}: set DB_SSH_PRIVATE_KEY_PATH or DB_SSH_PRIVATE_KEY, ` +
          'DB_SSH_AGENT (or SSH_AUTH_SOCK), or DB_SSH_PASSWORD',
      );
    }
    return methods;
  }

  #parsedKey(text: string): ParsedKey {
    if (this.#key) return this.#key;
    const parsed = ssh2.utils.parseKey(text, this.config.passphrase);
    if (parsed instanceof Error) {
      const where = this.config.privateKeyPath
        ? `DB_SSH_PRIVATE_KEY_PATH=${this.config.privateKeyPath}`
        : 'DB_SSH_PRIVATE_KEY';
      const hint =
        this.config.passphrase === undefined && /encrypted|passphrase/i.test(parsed.message)
          ? 'it is encrypted: set DB_SSH_PASSPHRASE'
          : /passphrase/i.test(parsed.message)
            ? 'is DB_SSH_PASSPHRASE right?'
            : 'is it an OpenSSH or PEM private key?';
      throw new TunnelError(`cannot use the SSH private key (${where}): ${hint}`, {
        cause: new Error(redactText(parsed.message, this.#secrets)),
      });
    }
    this.#key = parsed;
    return parsed;
  }

  #connectConfig(sock: Socket, methods: AnyAuthMethod[], onHostKey: (verdict: HostKeyVerdict) => void): ConnectConfig {
    return {
      sock,
      host: this.config.host,
      port: this.config.port,
      username: this.config.user,
      readyTimeout: this.config.readyTimeoutMs,
      keepaliveInterval: this.config.keepaliveIntervalMs,
      keepaliveCountMax: this.config.keepaliveCountMax,
      authHandler: methods,
      hostVerifier: (key: Buffer): boolean => {
        const verdict = verifyHostKey(key, this.#pinned, this.config.acceptUnknownHostKey);
        onHostKey(verdict);
        return verdict.accepted;
      },
    };
  }

  /** One SSH connection attempt: TCP, host key, authentication, then the Nagle fix. */
  #handshake(): Promise<Client> {
    const methods = this.#authMethods();
    this.#handshakes += 1;
    const client = this.#createClient();
    this.#handshaking = client;
    let verdict: HostKeyVerdict | undefined;
    let lastError: Ssh2Error | undefined;
    let settled = false;
    let up = false;
    let sock: Socket | undefined;

    return new Promise<Client>((resolve, reject) => {
      const fail = (cause: unknown): void => {
        if (settled) return;
        settled = true;
        if (this.#handshaking === client) this.#handshaking = undefined;
        sock?.destroy();
        reject(this.#describe(asError(cause), verdict, methods));
      };
      const onHostKey = (v: HostKeyVerdict): void => {
        verdict = v;
        this.#fingerprint = v.received;
        if (v.accepted && !v.pinned) {
          this.#logger.warn(
            'SSH host key accepted without verification (DB_SSH_ACCEPT_UNKNOWN_HOST_KEY=true): pin it with DB_SSH_HOST_FINGERPRINT',
            { server: this.#server, hostFingerprint: v.received },
          );
        }
        if (v.accepted) this.#pinned = v.received; // the key must not change across reconnects
      };

      client.on('error', (error: Ssh2Error) => {
        lastError = error;
        if (!settled) {
          if (isRecoverable(error)) this.#logger.debug('SSH authentication method failed', { error: error.message });
          else fail(error);
        }
      });
      client.once('close', () => {
        this.#ended.add(client);
        if (up) this.#onDropped(client, lastError);
        else fail(lastError ?? new Error('the SSH server closed the connection during the handshake'));
      });
      client.once('ready', () => {
        void this.#afterReady(client).then(() => {
          if (settled) return;
          if (this.#closing) {
            fail(this.#closedError());
            return;
          }
          settled = true;
          up = true;
          lastError = undefined; // from a method that failed before one succeeded
          if (this.#handshaking === client) this.#handshaking = undefined;
          resolve(client);
        });
      });
      try {
        // ssh2 never turns Nagle off on its socket: small pg messages would wait for delayed ACKs
        sock = connect({ host: this.config.host, port: this.config.port, noDelay: true });
        this.#sockets.set(client, sock);
        client.connect(this.#connectConfig(sock, methods, onHostKey));
      } catch (error) {
        fail(error);
      }
    });
  }

  /**
   * OpenSSH's sshd turns Nagle off on its socket only once a session runs a command: without it,
   * small messages on a forwarding-only connection wait for delayed ACKs. Run `true` once.
   */
  #afterReady(client: Client): Promise<void> {
    if (!this.config.execNoDelay) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#logger.warn('the SSH server did not start `true` in time; continuing', { server: this.#server });
        resolve();
      }, this.config.readyTimeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      try {
        client.exec('true', (error, stream) => {
          if (error) {
            if (!this.#ended.has(client))
              this.#logger.warn('the SSH server refused a session; set DB_SSH_EXEC_NODELAY=false to skip it', {
                server: this.#server,
                error: error.message,
              });
          } else {
            stream.on('error', () => undefined);
            stream.stderr.resume();
            stream.resume();
          }
          finish();
        });
      } catch {
        finish(); // the connection closed: the 'close' handler reports it
      }
    });
  }

  /** The SSH connection dropped after it was ready: fail its channels, re-establish on demand. */
  #onDropped(client: Client, cause: Ssh2Error | undefined): void {
    if (this.#client === client) this.#client = undefined;
    const sockets = [...this.#channels].filter(([, c]) => c === client).map(([socket]) => socket);
    if (this.#closing) {
      for (const socket of sockets) socket.destroy(this.#closedError());
      return;
    }
    const message = `the SSH connection to ${this.#server} was lost${cause ? `: ${this.#reason(cause)}` : ''}`;
    this.#lastError = message;
    this.#state = 'reconnecting';
    this.#failures = 0;
    const retryInMs = this.#scheduleRetry();
    this.#logger.warn('SSH connection lost; the next pool connection re-establishes it', {
      server: this.#server,
      openChannels: sockets.length,
      error: cause ? this.#reason(cause) : undefined,
      retryInMs,
    });
    for (const socket of sockets) socket.destroy(new TunnelError(message, { cause, code: 'ECONNRESET' }));
  }

  #reason(error: Ssh2Error): string {
    if (error.level === 'client-timeout' && /keepalive/i.test(error.message)) {
      const { keepaliveIntervalMs, keepaliveCountMax } = this.config;
      return `no answer to ${keepaliveCountMax} keepalives sent every ${keepaliveIntervalMs} ms`;
    }
    return redactText(error.message, this.#secrets);
  }

  /** A TunnelError that says what failed, in words, with the original as `cause`. */
  #describe(cause: Ssh2Error, verdict: HostKeyVerdict | undefined, methods: AnyAuthMethod[]): TunnelError {
    if (cause instanceof TunnelError) return cause;
    const server = this.#server;
    if (verdict && !verdict.accepted) {
      const message =
        verdict.expected === undefined
          ? `the SSH host key of ${server} is not pinned (received ${verdict.received}): set ` +
            `DB_SSH_HOST_FINGERPRINT=${verdict.received} after checking it against \`ssh-keygen -lf\` on the server, ` +
            'or DB_SSH_ACCEPT_UNKNOWN_HOST_KEY=true'
          : verdict.expected === this.config.hostFingerprint
            ? `the SSH host key of ${server} does not match DB_SSH_HOST_FINGERPRINT: expected ${verdict.expected}, received ${verdict.received}`
            : `the SSH host key of ${server} changed since this tunnel first connected: expected ${verdict.expected}, received ${verdict.received}`;
      return new TunnelError(message, { cause });
    }
    const code = typeof cause.code === 'string' ? cause.code : undefined;
    const reason = redactText(cause.message, this.#secrets);
    if (cause.level === 'client-authentication') {
      const tried = methods.map((m) => m.type).join(', ');
      return new TunnelError(`SSH authentication as ${server} failed (tried ${tried}): ${reason}`, { cause });
    }
    if (cause.level === 'client-timeout' && /handshake/i.test(cause.message)) {
      return new TunnelError(
        `the SSH handshake with ${server} did not finish within ${this.config.readyTimeoutMs} ms (DB_SSH_READY_TIMEOUT_MS)`,
        { cause, code: 'ETIMEDOUT' },
      );
    }
    if (cause.level === 'client-socket' || code !== undefined) {
      return new TunnelError(`cannot reach the SSH server ${server}: ${reason}`, { cause, code });
    }
    return new TunnelError(`the SSH connection to ${server} failed: ${reason}`, { cause });
  }
}
