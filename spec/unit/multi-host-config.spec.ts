/**
 * A multi-host DATABASE_URL as libpq reads it: hosts in order with their ports, target_session_attrs,
 * load_balance_hosts and connect_timeout, DB_FAILOVER_TIMEOUT_MS; bad entries named; the password
 * of every host kept out of every description.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, loadConfig, sealConfig, ValidationError, type DatabaseConfig } from '../../lib/index.js';

let dir: string;
let emptyEnv: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kr-multi-host-'));
  emptyEnv = join(dir, 'empty.env');
  writeFileSync(emptyEnv, '');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function load(env: Record<string, string>): DatabaseConfig {
  return loadConfig(env, { envFile: emptyEnv });
}

function refusal(env: Record<string, string>): ConfigError {
  try {
    load(env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  return expect.fail('loadConfig accepted it');
}

describe('multi-host DATABASE_URL (libpq host lists)', () => {
  it('reads every host in order, each with its port (5432 when none), the first as `connection`', () => {
    const config = load({
      DATABASE_URL: 'postgres://app:pw@h1:5433,[::1]:5434,h3/appdb?target_session_attrs=read-write',
    });
    const hosts = config.failover?.hosts.map((h) => [h.host, h.port, h.database, h.user]);
    expect(hosts).to.deep.equal([
      ['h1', 5433, 'appdb', 'app'],
      ['::1', 5434, 'appdb', 'app'],
      ['h3', 5432, 'appdb', 'app'],
    ]);
    expect(config.connection).to.equal(config.failover?.hosts[0]);
    expect(config.failover).to.deep.include({
      targetSessionAttrs: 'read-write',
      loadBalanceHosts: 'disable',
      connectTimeoutMs: undefined,
      timeoutMs: 30_000,
    });
    for (const host of config.failover!.hosts) expect(host.password).to.equal('pw');
  });

  it('takes every target_session_attrs libpq allows, load_balance_hosts, connect_timeout and DB_FAILOVER_TIMEOUT_MS', () => {
    for (const attrs of ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby']) {
      const config = load({ DATABASE_URL: `postgres://u@a,b/db?target_session_attrs=${attrs}` });
      expect(config.failover?.targetSessionAttrs).to.equal(attrs);
    }
    const config = load({
      DATABASE_URL: 'postgres://u@a,b/db?load_balance_hosts=random&connect_timeout=3',
      DB_FAILOVER_TIMEOUT_MS: '5000',
    });
    expect(config.failover).to.deep.include({
      targetSessionAttrs: 'any',
      loadBalanceHosts: 'random',
      connectTimeoutMs: 3000,
      timeoutMs: 5000,
    });
    expect(load({ DATABASE_URL: 'postgres://u@a,b/db?connect_timeout=0' }).failover?.connectTimeoutMs).to.equal(
      undefined,
    );
  });

  it('leaves a single-host URL as it was, unless it names a failover parameter', () => {
    expect(load({ DATABASE_URL: 'postgres://u@a:5433/db' }).failover).to.equal(undefined);
    const one = load({ DATABASE_URL: 'postgres://u@a:5433/db?target_session_attrs=primary' });
    expect(one.failover?.hosts.map((h) => h.port)).to.deep.equal([5433]);
    expect(one.failover?.targetSessionAttrs).to.equal('primary');
  });

  it('names the host entry or the parameter at fault, and what is allowed', () => {
    const empty = refusal({ DATABASE_URL: 'postgres://u@h1,,h3/db' });
    expect(empty.variable).to.equal('DATABASE_URL');
    expect(empty.message).to.match(/lists 3 hosts and host 2 is empty/);
    expect(refusal({ DATABASE_URL: 'postgres://u@h1,h2:54x/db' }).message).to.match(/host 2 is not host or host:port/);
    expect(refusal({ DATABASE_URL: 'postgres://u@h1,h2:99999/db' }).message).to.match(/DATABASE_URL host 2/);
    const attrs = refusal({ DATABASE_URL: 'postgres://u@h1,h2/db?target_session_attrs=master' });
    expect(attrs.message).to.include('target_session_attrs');
    expect(attrs.allowed).to.equal('one of any, read-write, read-only, primary, standby, prefer-standby');
    expect(attrs.message).to.match(/target_session_attrs that is not allowed: expected one of any, read-write/);
    expect(refusal({ DATABASE_URL: 'postgres://u@h1,h2/db?load_balance_hosts=yes' }).allowed).to.equal(
      'disable or random',
    );
    expect(refusal({ DATABASE_URL: 'postgres://u@h1,h2/db?connect_timeout=-1' }).message).to.include('connect_timeout');
    expect(refusal({ DATABASE_URL: 'postgres://u@h1,h2/db', DB_FAILOVER_TIMEOUT_MS: '0' }).variable).to.equal(
      'DB_FAILOVER_TIMEOUT_MS',
    );
  });

  it('keeps the password out of every description and error, for every host', () => {
    const secret = 'Hunter2-multi%2Fhost';
    const decoded = 'Hunter2-multi/host';
    const config = load({
      DATABASE_URL: `postgres://app:${secret}@h1:5432,h2:5433/db?target_session_attrs=read-write`,
    });
    expect(config.secrets).to.include(decoded);
    const shown = [String(config), JSON.stringify(config), inspect(config, { depth: 9 })];
    shown.push(...config.failover!.hosts.map((h) => h.redactedUrl), JSON.stringify(config.failover));
    for (const text of shown) {
      expect(text).not.to.include(decoded);
      expect(text).not.to.include(secret);
    }
    const bad = refusal({ DATABASE_URL: `postgres://app:${secret}@h1,,h2/db` });
    expect(bad.message).not.to.include(decoded);
    expect(bad.message).not.to.include('Hunter2');
  });

  it('reads any generated host list back host for host', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,2}$/);
    const v6 = fc.constantFrom('::1', 'fe80::1', '2001:db8::7');
    const entry = fc.record({
      host: fc.oneof(name, v6),
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 2, maxLength: 6 }), (entries) => {
        const list = entries
          .map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}${port === undefined ? '' : `:${port}`}`)
          .join(',');
        const config = load({ DATABASE_URL: `postgres://u:p@${list}/db` });
        const read = config.failover!.hosts.map((h) => [h.host, h.port]);
        expect(read).to.deep.equal(entries.map(({ host, port }) => [host, port ?? 5432]));
      }),
      { numRuns: 200 },
    );
  });

  it('checks the failover part of a hand-made config', () => {
    const config = load({ DATABASE_URL: 'postgres://u@a,b/db' });
    const copy = { ...config, failover: { ...config.failover!, hosts: [] } };
    expect(() => sealConfig(copy)).to.throw(ValidationError, /config\.failover\.hosts/);
    const attrs = { ...config, failover: { ...config.failover!, targetSessionAttrs: 'master' } };
    expect(() => sealConfig(attrs as unknown as DatabaseConfig)).to.throw(ValidationError, /targetSessionAttrs/);
    expect(sealConfig({ ...config }).failover?.hosts).to.have.length(2);
  });
});
