/**
 * A private PostgreSQL cluster with TLS on, for the TLS specs: a certificate authority made with
 * `openssl` at run time in a fresh temp dir (nothing kept, nothing committed), a server
 * certificate it signs, a client certificate for a role that must log in with it (pg_hba
 * `hostssl … cert`), and a second, unrelated CA. Started with startThrowawayCluster on a free
 * loopback port; destroy() stops the postmaster and deletes every file.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findServerBinaries, startThrowawayCluster, type ThrowawayCluster } from './postgres-cluster.js';

const run = promisify(execFile);

/** The role that may log in only with its client certificate (its certificate's CN). */
export const CERT_USER = 'tls_cert_user';

/** The name the server certificate is issued for (only this name: no IP address). */
export const SERVER_NAME = 'localhost';

/** Why the TLS specs cannot run here, or undefined when they can. */
export function tlsMissingReason(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'openssl is not installed (Debian: apt-get install openssl)';
  }
  if (!findServerBinaries()) {
    return 'the PostgreSQL server binaries are not installed (Debian: apt-get install postgresql)';
  }
  return undefined;
}

/** The files a TLS client may name in DATABASE_URL. */
export interface TlsFiles {
  /** The CA that signed the server's and the client's certificates (sslrootcert). */
  readonly ca: string;
  /** A CA that signed nothing this server or client uses (a wrong sslrootcert). */
  readonly otherCa: string;
  /** The client certificate of CERT_USER (sslcert) and its key (sslkey). */
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate for CERT_USER signed by the other CA, and its key. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

/** A running cluster with `ssl = on`. */
export interface TlsCluster {
  readonly cluster: ThrowawayCluster;
  readonly port: number;
  readonly files: TlsFiles;
  /**
   * `postgres://<user>@<host>:<port>/postgres?<query>`; host defaults to SERVER_NAME, user to
   * `postgres`, the query (`sslmode=…&sslrootcert=…`) is appended as given.
   */
  url(query: string, options?: { host?: string; user?: string }): string;
  /** Runs one statement as the superuser over the Unix socket (no TLS): the server's own view. */
  admin<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** Stops the postmaster and deletes the cluster and every certificate. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * For a suite's `before` hook: starts a TLS cluster, or, when openssl or the server binaries are
 * missing, prints why and skips the suite (never silently).
 */
export async function startTlsClusterOrSkip(context: Mocha.Context, what: string): Promise<TlsCluster> {
  const missing = tlsMissingReason();
  if (missing) {
    process.stdout.write(`    skipping ${what}: ${missing}\n`);
    context.skip();
  }
  return startTlsCluster();
}

/** The uid/gid the server runs as when we are root (startThrowawayCluster runs it as `postgres`). */
function serverOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** `openssl req` arguments for a new, unencrypted P-256 key. */
const NEW_P256_KEY = ['-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** A P-256 key and a self-signed CA certificate. */
async function makeCa(dir: string, name: string, subject: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    ...NEW_P256_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A P-256 key and a certificate that `ca` signs, with the given extensions. */
async function makeLeaf(dir: string, name: string, ca: string, subject: string, extensions: string[]): Promise<void> {
  await openssl(dir, ['req', ...NEW_P256_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

/** The CAs, the server certificate and the client certificates, in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  await Promise.all([makeCa(dir, 'ca', '/CN=kysely-repository spec CA'), makeCa(dir, 'other-ca', '/CN=unrelated CA')]);
  const client = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
  await Promise.all([
    makeLeaf(dir, 'server', 'ca', `/CN=${SERVER_NAME}`, [
      `subjectAltName=DNS:${SERVER_NAME}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
    ]),
    makeLeaf(dir, 'client', 'ca', `/CN=${CERT_USER}`, client),
    makeLeaf(dir, 'stranger', 'other-ca', `/CN=${CERT_USER}`, client),
  ]);
}

/** Gives `dir` and its files to the server's user (when we are root); the server key private to it. */
function handOver(dir: string): void {
  const owner = serverOwner();
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    for (const name of readdirSync(dir)) chownSync(join(dir, name), owner.uid, owner.gid);
  }
  if (existsSync(join(dir, 'server.key'))) chmodSync(join(dir, 'server.key'), 0o600);
}

/** Resolves once a TLS session to `cluster` can be opened (after the reload that turned ssl on). */
async function waitForTls(cluster: ThrowawayCluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: cluster.url(), ssl: { rejectUnauthorized: false } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        const log = join(dirname(cluster.dataDir), 'server.log');
        const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
        throw new Error(`the server did not turn TLS on: ${String(error)}\n${tail}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Makes the certificates and starts a cluster with `ssl = on`, its server certificate issued for
 * SERVER_NAME by the spec's CA, client certificates verified against that CA, and this pg_hba:
 * CERT_USER only over TLS with a valid client certificate; every other role by trust, over TLS
 * or not (so a spec can show what an unencrypted session looks like). The certificates are made
 * while initdb runs; ssl is turned on by a reload once both are done.
 * @throws Error when openssl or the server binaries are missing, or the server does not start.
 */
export async function startTlsCluster(): Promise<TlsCluster> {
  const missing = tlsMissingReason();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'kr-tls-'));
  const hba = join(dir, 'pg_hba.conf');
  writeFileSync(
    hba,
    [
      'local all all trust',
      ...['127.0.0.1/32', '::1/128'].flatMap((net) => [
        `hostssl all ${CERT_USER} ${net} cert`,
        `host all ${CERT_USER} ${net} reject`,
        `host all all ${net} trust`,
      ]),
      '',
    ].join('\n'),
  );
  handOver(dir);
  let cluster: ThrowawayCluster | undefined;
  try {
    const starting = startThrowawayCluster({
      settings: {
        ssl_cert_file: join(dir, 'server.crt'),
        ssl_key_file: join(dir, 'server.key'),
        ssl_ca_file: join(dir, 'ca.crt'),
        hba_file: hba,
        // the server also answers on ::1, where `localhost` may resolve first
        listen_addresses: '127.0.0.1,::1',
        max_connections: 50,
      },
    });
    const [startedResult, certificates] = await Promise.allSettled([starting, makeCertificates(dir)]);
    if (startedResult.status === 'fulfilled') cluster = startedResult.value;
    else throw startedResult.reason;
    if (certificates.status === 'rejected') throw certificates.reason;
    handOver(dir);
    // ssl is not on the server's command line, so ALTER SYSTEM decides it; a reload applies it
    const admin = new pg.Client({ connectionString: cluster.url() });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      await admin.query('alter system set ssl = on');
      await admin.query('select pg_reload_conf()');
    } finally {
      await admin.end();
    }
    await waitForTls(cluster, 10_000);
  } catch (error) {
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const started: ThrowawayCluster = cluster;
  let destroyed = false;
  const files: TlsFiles = {
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    strangerCert: join(dir, 'stranger.crt'),
    strangerKey: join(dir, 'stranger.key'),
  };
  return {
    cluster: started,
    port: started.port,
    files,
    url: (query, options = {}) =>
      `postgres://${options.user ?? 'postgres'}@${options.host ?? SERVER_NAME}:${started.port}/postgres?${query}`,
    admin: async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
      const client = new pg.Client({
        host: started.socketDir,
        port: started.port,
        user: 'postgres',
        database: 'postgres',
      });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query<R>(text, values)).rows;
      } finally {
        await client.end();
      }
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      try {
        await started.destroy();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
