/**
 * TLS inside the SSH channel: DATABASE_URL with sslmode=verify-full and DB_SSH_* settings, a
 * real OpenSSH sshd, and a private cluster with `ssl = on` whose certificate names only
 * `localhost`. The tunnel carries pg's bytes; the certificate must still be checked against the
 * host in DATABASE_URL (as sshd reaches it), not against any address on the application's side.
 */
import tls from 'node:tls';
import { expect } from 'chai';
import { sql } from 'kysely';
import sinon from 'sinon';
import { ConnectionError, DatabaseError, createDatabase, loadConfig, type Database } from '../../lib/index.js';
import { sshdMissingReason, sshEnv, startSshServer, type SshServer } from '../support/ssh-server.js';
import { rejection, spyLogger } from '../support/spec-helpers.js';
import { SERVER_NAME, startTlsCluster, tlsMissingReason, type TlsCluster } from '../support/tls-cluster.js';

describe('TLS through the SSH tunnel (real sshd, private cluster with ssl = on)', function () {
  let cluster: TlsCluster;
  let server: SshServer;
  let database: Database<unknown> | undefined;
  let sandbox: sinon.SinonSandbox;

  before(async function () {
    this.timeout(60_000);
    const missing = tlsMissingReason() ?? sshdMissingReason();
    if (missing) {
      process.stdout.write(`    skipping TLS through the SSH tunnel: ${missing}\n`);
      this.skip();
    }
    // independent: started side by side, and whichever started is stopped in after() if the other failed
    const [tlsResult, sshResult] = await Promise.allSettled([startTlsCluster(), startSshServer()]);
    if (tlsResult.status === 'fulfilled') cluster = tlsResult.value;
    if (sshResult.status === 'fulfilled') server = sshResult.value;
    for (const result of [tlsResult, sshResult]) if (result.status === 'rejected') throw result.reason;
    await cluster.admin('create table tls_marks (label text not null)');
  });

  after(async () => {
    await server?.destroy();
    await cluster?.destroy();
  });

  beforeEach(() => {
    sandbox = sinon.createSandbox();
  });

  afterEach(async () => {
    await database?.close();
    database = undefined;
    sandbox.restore();
  });

  function open(query: string, host: string = SERVER_NAME): Database<unknown> {
    const env = sshEnv(server, cluster.url(query, { host }), { DB_POOL_SIZE: '2', DB_POOL_TIMEOUT: '5000' });
    const config = loadConfig(env, { envFile: '/dev/null' });
    database = createDatabase<unknown>({ config, logger: spyLogger(sandbox) });
    return database;
  }

  it('verify-full: the session is TLS, carried by one SSH channel, and the name checked is the URL host', async () => {
    const connects = sandbox.spy(tls, 'connect');
    const mark = server.mark();
    const db = open(`sslmode=verify-full&sslrootcert=${cluster.files.ca}`);
    const { rows } = await sql<{ ssl: boolean; version: string }>`
      select ssl, version from pg_stat_ssl where pid = pg_backend_pid()`.execute(db.db);
    expect(rows[0]?.ssl).to.equal(true);
    expect(rows[0]?.version).to.match(/^TLSv1\.[23]$/);
    expect((await db.health()).tunnel).to.deep.include({ state: 'ready', handshakes: 1 });
    expect(server.logSince(mark)).to.match(
      new RegExp(`server_request_direct_tcpip: originator .*, target ${SERVER_NAME} port ${cluster.port}`),
    );
    // pg upgraded the SSH channel (not a TCP socket of its own) and named the URL's host
    const options = connects.getCalls().map((call) => call.args[0] as tls.ConnectionOptions);
    expect(options).to.have.length.of.at.least(1);
    for (const option of options) {
      expect(option).to.deep.include({ host: SERVER_NAME, servername: SERVER_NAME });
      expect(option.socket?.constructor.name).to.equal('SshChannelSocket');
    }
  });

  it('verify-full with a URL host the certificate does not name: ConnectionError before any statement runs', async () => {
    const db = open(`sslmode=verify-full&sslrootcert=${cluster.files.ca}`, '127.0.0.1');
    const error = await rejection(sql`insert into tls_marks (label) values ('through the tunnel')`.execute(db.db));
    expect(error).to.be.instanceOf(DatabaseError);
    expect((error as DatabaseError).code).to.equal('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(await db.ping()).to.equal(false);
    const rows = await cluster.admin<{ n: string }>('select count(*) as n from tls_marks');
    expect(rows[0]?.n).to.equal('0');
    expect(error).to.be.instanceOf(ConnectionError);
  });

  it('verify-full with a CA that did not sign the server certificate: refused through the tunnel too', async () => {
    const db = open(`sslmode=verify-full&sslrootcert=${cluster.files.otherCa}`);
    const error = await rejection(sql`select 1`.execute(db.db));
    expect((error as DatabaseError).code).to.be.oneOf(['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
    expect(await db.ping()).to.equal(false);
    expect(error).to.be.instanceOf(ConnectionError);
  });
});
