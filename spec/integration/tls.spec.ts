/**
 * TLS as production uses it, against a private cluster with `ssl = on` whose certificate a CA made
 * at run time signs (spec/support/tls-cluster.ts): DATABASE_URL's sslmode, sslrootcert, sslcert
 * and sslkey through loadConfig and createDatabase; the server's pg_stat_ssl says whether a
 * session is encrypted, and a statement a refused connection was asked to run leaves no row.
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import sinon from 'sinon';
import { ConnectionError, DatabaseError, createDatabase, loadConfig, type Database } from '../../lib/index.js';
import { rejection, spyLogger } from '../support/spec-helpers.js';
import { CERT_USER, SERVER_NAME, startTlsClusterOrSkip, type TlsCluster } from '../support/tls-cluster.js';

/** What the server says about the session a statement ran on. */
interface SessionTls {
  ssl: boolean;
  version: string | null;
  clientDn: string | null;
  user: string;
}

/** Node's codes for a server certificate that fails verification (chain or host name). */
const VERIFY_FAILURES = [
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

describe('TLS (private cluster with ssl = on, a CA made by the spec)', function () {
  let tls: TlsCluster;
  const opened: Database<unknown>[] = [];
  let marks = 0;

  before(async function () {
    this.timeout(60_000);
    tls = await startTlsClusterOrSkip(this, 'the TLS specs');
    await tls.admin(`create role ${CERT_USER} login`);
    await tls.admin('create table tls_marks (label text not null)');
    await tls.admin(`grant insert on tls_marks to ${CERT_USER}`);
  });

  after(async () => {
    await tls?.destroy();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  /** A Database for DATABASE_URL = the cluster's URL with `query`, as an application builds it. */
  function open(query: string, options: { host?: string; user?: string } = {}): Database<unknown> {
    const config = loadConfig(
      { DATABASE_URL: tls.url(query, options), DB_POOL_SIZE: '2', DB_POOL_TIMEOUT: '5000' },
      { envFile: '/dev/null' },
    );
    const db = createDatabase<unknown>({ config, logger: spyLogger(sinon) });
    opened.push(db);
    return db;
  }

  /** The server's view of the session the statement runs on. */
  async function session(db: Database<unknown>): Promise<SessionTls> {
    const { rows } = await sql<SessionTls>`
      select s.ssl, s.version, s.client_dn, current_user::text as user
      from pg_stat_ssl s where s.pid = pg_backend_pid()`.execute(db.db);
    expect(rows).to.have.length(1);
    return rows[0]!;
  }

  /**
   * Asks `db` to insert a mark as its first statement and returns the rejection, after checking
   * on the server that the mark is not there (the statement never ran) and that ping() says false.
   */
  async function refusedBeforeAnyStatement(db: Database<unknown>): Promise<DatabaseError> {
    const label = `mark-${++marks}`;
    const error = await rejection(sql`insert into tls_marks (label) values (${label})`.execute(db.db));
    expect(error).to.be.instanceOf(DatabaseError);
    expect(await db.ping()).to.equal(false);
    const rows = await tls.admin<{ n: string }>('select count(*) as n from tls_marks where label = $1', [label]);
    expect(rows[0]?.n).to.equal('0');
    return error as DatabaseError;
  }

  describe('sslmode=verify-full', () => {
    it('connects with sslrootcert = the CA that signed the server certificate, and the session is TLS', async () => {
      const db = open(`sslmode=verify-full&sslrootcert=${tls.files.ca}`);
      expect(await db.ping()).to.equal(true);
      const seen = await session(db);
      expect(seen.ssl).to.equal(true);
      expect(seen.version).to.match(/^TLSv1\.[23]$/);
      expect(seen.user).to.equal('postgres');
    });

    it('a CA that did not sign the server certificate: ConnectionError before any statement runs', async () => {
      const error = await refusedBeforeAnyStatement(open(`sslmode=verify-full&sslrootcert=${tls.files.otherCa}`));
      expect(error.code).to.be.oneOf(VERIFY_FAILURES);
      expect(error).to.be.instanceOf(ConnectionError);
    });

    it(`a certificate for another host name (${SERVER_NAME}, reached as 127.0.0.1): ConnectionError before any statement runs`, async () => {
      const db = open(`sslmode=verify-full&sslrootcert=${tls.files.ca}`, { host: '127.0.0.1' });
      const error = await refusedBeforeAnyStatement(db);
      expect(error.code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(error.message).to.include('127.0.0.1');
      expect(error).to.be.instanceOf(ConnectionError);
    });

    it('no sslrootcert: the server certificate is checked against the default CAs, which do not know the spec CA', async () => {
      const error = await refusedBeforeAnyStatement(open('sslmode=verify-full'));
      expect(error.code).to.be.oneOf(VERIFY_FAILURES);
      expect(error).to.be.instanceOf(ConnectionError);
    });
  });

  describe('sslmode=require', () => {
    it('verifies as verify-full does (pg-connection-string 2.x): a certificate from an unknown CA is a ConnectionError', async () => {
      const error = await refusedBeforeAnyStatement(open('sslmode=require'));
      expect(error.code).to.be.oneOf(VERIFY_FAILURES);
      expect(error).to.be.instanceOf(ConnectionError);
    });

    it('with uselibpqcompat=true: encrypted, nothing verified (unknown CA, another host name) — it connects', async () => {
      const db = open('sslmode=require&uselibpqcompat=true', { host: '127.0.0.1' });
      const seen = await session(db);
      expect(seen.ssl).to.equal(true);
    });
  });

  it('each sslmode, as the package reads DATABASE_URL: TLS, plaintext, or refused', async function () {
    this.timeout(20_000);
    const ca = `sslrootcert=${tls.files.ca}`;
    const other = `sslrootcert=${tls.files.otherCa}`;
    const cases: Record<string, [query: string, host?: string]> = {
      'no sslmode': ['application_name=tls-spec'],
      disable: ['sslmode=disable'],
      'allow, no CA': ['sslmode=allow'],
      'prefer, no CA': ['sslmode=prefer'],
      'require, no CA': ['sslmode=require'],
      'verify-ca, right CA, other host name': [`sslmode=verify-ca&${ca}`, '127.0.0.1'],
      'verify-full, right CA': [`sslmode=verify-full&${ca}`],
      'verify-full, wrong CA': [`sslmode=verify-full&${other}`],
      'no-verify, no CA, other host name': ['sslmode=no-verify', '127.0.0.1'],
      'libpq prefer, no CA': ['sslmode=prefer&uselibpqcompat=true'],
      'libpq require, no CA, other host name': ['sslmode=require&uselibpqcompat=true', '127.0.0.1'],
      'libpq require, wrong CA': [`sslmode=require&uselibpqcompat=true&${other}`],
      'libpq require, right CA, other host name': [`sslmode=require&uselibpqcompat=true&${ca}`, '127.0.0.1'],
      'libpq verify-ca, right CA, other host name': [`sslmode=verify-ca&uselibpqcompat=true&${ca}`, '127.0.0.1'],
      'libpq verify-ca, wrong CA': [`sslmode=verify-ca&uselibpqcompat=true&${other}`],
      'libpq verify-full, right CA, other host name': [`sslmode=verify-full&uselibpqcompat=true&${ca}`, '127.0.0.1'],
    };
    const outcome = async ([query, host]: [string, string?]): Promise<string> => {
      const db = open(query, host ? { host } : {});
      try {
        return (await session(db)).ssl ? 'tls' : 'plaintext';
      } catch (error) {
        return `refused (${String((error as DatabaseError).code)})`;
      }
    };
    const seen: Record<string, string> = {};
    for (const [name, args] of Object.entries(cases)) seen[name] = await outcome(args);
    const chain = seen['verify-full, wrong CA'];
    expect(chain).to.match(/^refused \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)$/);
    const name = 'refused (ERR_TLS_CERT_ALTNAME_INVALID)';
    expect(seen).to.deep.equal({
      'no sslmode': 'plaintext',
      disable: 'plaintext',
      'allow, no CA': chain,
      'prefer, no CA': chain,
      'require, no CA': chain,
      'verify-ca, right CA, other host name': name,
      'verify-full, right CA': 'tls',
      'verify-full, wrong CA': chain,
      'no-verify, no CA, other host name': 'tls',
      'libpq prefer, no CA': 'tls',
      'libpq require, no CA, other host name': 'tls',
      'libpq require, wrong CA': chain,
      'libpq require, right CA, other host name': 'tls',
      'libpq verify-ca, right CA, other host name': 'tls',
      'libpq verify-ca, wrong CA': chain,
      'libpq verify-full, right CA, other host name': name,
    });
  });

  describe('client certificate (pg_hba: hostssl … cert for one role)', () => {
    const verified = () => `sslmode=verify-full&sslrootcert=${tls.files.ca}`;

    it('sslcert and sslkey in the URL: the role logs in with its certificate, and statements run', async () => {
      const db = open(`${verified()}&sslcert=${tls.files.clientCert}&sslkey=${tls.files.clientKey}`, {
        user: CERT_USER,
      });
      const seen = await session(db);
      expect(seen).to.deep.include({ ssl: true, user: CERT_USER });
      expect(seen.clientDn).to.equal(`/CN=${CERT_USER}`);
      await sql`insert into tls_marks (label) values ('by certificate')`.execute(db.db);
      const rows = await tls.admin<{ n: string }>("select count(*) as n from tls_marks where label = 'by certificate'");
      expect(rows[0]?.n).to.equal('1');
    });

    it('without a client certificate: refused by the server (SQLSTATE 28000) before any statement runs', async () => {
      const error = await refusedBeforeAnyStatement(open(verified(), { user: CERT_USER }));
      expect(error.code).to.equal('28000');
      expect(error.message).to.equal(
        'connection requires a valid client certificate; check sslcert and sslkey in DATABASE_URL',
      );
    });

    it('a client certificate another CA signed: the server ends the handshake (unknown CA alert)', async () => {
      const db = open(`${verified()}&sslcert=${tls.files.strangerCert}&sslkey=${tls.files.strangerKey}`, {
        user: CERT_USER,
      });
      const error = await refusedBeforeAnyStatement(db);
      expect(error.code).to.equal('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    });

    it('without TLS: pg_hba rejects the role (SQLSTATE 28000)', async () => {
      const error = await refusedBeforeAnyStatement(open('sslmode=disable', { user: CERT_USER }));
      expect(error.code).to.equal('28000');
      expect(error.message).to.match(/no encryption/);
    });
  });
});
