/**
 * HostSelector, with the probe stubbed (a unit: which host it settles on and when it moves on;
 * real servers in spec/integration/failover.spec.ts): libpq's choice for every
 * target_session_attrs checked against an oracle written from libpq's documentation over
 * generated host lists, one shared search, generations, the failover warning, the bound.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import type { ConnectionTarget, FailoverConfig, TargetSessionAttrs } from '../../lib/config.js';
import { HostSelector } from '../../lib/connection/failover/host-selector.js';
import type { ServerRole } from '../../lib/connection/failover/server-role.js';
import { ConnectionError } from '../../lib/errors.js';
import { spyLogger } from '../support/spec-helpers.js';

type Kind = 'primary' | 'standby' | 'read-only primary' | 'down';

function target(port: number): ConnectionTarget {
  return {
    host: '127.0.0.1',
    port,
    database: 'db',
    user: 'u',
    ssl: false,
    redactedUrl: `postgres://u@127.0.0.1:${port}/db`,
  };
}

function failover(
  ports: readonly number[],
  attrs: TargetSessionAttrs,
  extra: Partial<FailoverConfig> = {},
): FailoverConfig {
  return {
    hosts: ports.map(target),
    targetSessionAttrs: attrs,
    loadBalanceHosts: 'disable',
    connectTimeoutMs: undefined,
    timeoutMs: 200,
    ...extra,
  };
}

/** A probe answering from `kinds` (by port - 1), counting calls per port. */
function fakeProbe(kinds: Kind[]) {
  const calls: number[] = [];
  const probe = (server: ConnectionTarget): Promise<ServerRole> => {
    calls.push(server.port);
    const kind = kinds[server.port - 1];
    if (kind === 'down')
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    return Promise.resolve({ standby: kind === 'standby', readOnly: kind !== 'primary' });
  };
  return { probe, calls };
}

/** libpq's choice (its documentation, not our code): the first host in order that is usable. */
function libpqChoice(kinds: Kind[], attrs: TargetSessionAttrs): number | undefined {
  const up = kinds.map((kind, i) => ({ kind, port: i + 1 })).filter((h) => h.kind !== 'down');
  const first = (accept: (kind: Kind) => boolean) => up.find((h) => accept(h.kind))?.port;
  switch (attrs) {
    case 'any':
      return first(() => true);
    case 'read-write':
      return first((k) => k === 'primary');
    case 'read-only':
      return first((k) => k !== 'primary');
    case 'primary':
      return first((k) => k !== 'standby');
    case 'standby':
      return first((k) => k === 'standby');
    case 'prefer-standby':
      return first((k) => k === 'standby') ?? first(() => true);
  }
}

describe('HostSelector (probe stubbed)', () => {
  const sandbox = sinon.createSandbox();
  afterEach(() => sandbox.restore());

  it('settles where libpq would, for every target_session_attrs, over generated host lists', async () => {
    const kinds = fc.constantFrom<Kind>('primary', 'standby', 'read-only primary', 'down');
    const attrs = fc.constantFrom<TargetSessionAttrs>(
      'any',
      'read-write',
      'read-only',
      'primary',
      'standby',
      'prefer-standby',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(kinds, { minLength: 1, maxLength: 5 }), attrs, async (list, wanted) => {
        const { probe } = fakeProbe(list);
        const selector = new HostSelector(
          failover(
            list.map((_, i) => i + 1),
            wanted,
            { timeoutMs: 30 },
          ),
          { probe, logger: spyLogger(sandbox) },
        );
        const expected = libpqChoice(list, wanted);
        const chosen = await selector.choose().then(
          (host) => host.target.port,
          (error: unknown) => {
            expect(error).to.be.instanceOf(ConnectionError);
            return undefined;
          },
        );
        expect(chosen, `${wanted} over ${list.join(', ')}`).to.equal(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('runs one search for every caller, and probes each host once per round', async () => {
    const { probe, calls } = fakeProbe(['down', 'standby', 'primary']);
    const selector = new HostSelector(failover([1, 2, 3], 'read-write'), { probe, logger: spyLogger(sandbox) });
    const chosen = await Promise.all(Array.from({ length: 20 }, () => selector.choose()));
    expect(new Set(chosen.map((h) => h.target.port))).to.deep.equal(new Set([3]));
    expect(calls).to.deep.equal([1, 2, 3]);
    expect(selector.status()).to.deep.include({ current: '127.0.0.1:3', failovers: 0 });
    expect(selector.status().hosts.map((h) => [h.role, h.state, h.current])).to.deep.equal([
      ['unknown', 'down', false],
      ['standby', 'up', false],
      ['primary', 'up', true],
    ]);
  });

  it('moves on a generation, counts and logs a failover once when new connections go to another host', async () => {
    const kinds: Kind[] = ['primary', 'standby', 'standby'];
    const { probe } = fakeProbe(kinds);
    const logger = spyLogger(sandbox);
    const selector = new HostSelector(failover([1, 2, 3], 'read-write'), { probe, logger });
    const first = await selector.choose();
    const generation = selector.generation;
    // a lost connection to a primary that is still there: the same host, the same generation
    selector.unreachable(first, new Error('Connection terminated unexpectedly'));
    expect((await selector.choose()).target.port).to.equal(1);
    expect(selector.generation).to.equal(generation);
    expect(logger.warn.called).to.equal(false);
    // the primary dies, host 2 is promoted
    kinds[0] = 'down';
    kinds[1] = 'primary';
    selector.unreachable(first, new Error('Connection terminated unexpectedly'));
    expect((await selector.choose()).target.port).to.equal(2);
    expect(selector.generation).to.equal(generation + 1);
    expect(selector.usable(generation)).to.equal(false);
    expect(selector.status().failovers).to.equal(1);
    expect(logger.warn.callCount).to.equal(1);
    expect(logger.warn.firstCall.args[1]).to.deep.include({ from: '127.0.0.1:1', to: '127.0.0.1:2', role: 'primary' });
  });

  it('gives a host up at once when it proves to be of the wrong role, and checks it after a 25006 before giving it up', async () => {
    const kinds: Kind[] = ['primary', 'primary'];
    const { probe } = fakeProbe(kinds);
    const selector = new HostSelector(failover([1, 2], 'read-write'), { probe, logger: spyLogger(sandbox) });
    const host = await selector.choose();
    const generation = selector.generation;
    // a 25006 from a read-only transaction the application asked for: the host is still a primary
    selector.verify(host);
    await host.verifying;
    expect(selector.generation).to.equal(generation);
    expect(selector.status().current).to.equal('127.0.0.1:1');
    // now it came back as a standby
    kinds[0] = 'standby';
    selector.verify(host);
    await host.verifying;
    expect(selector.usable(generation)).to.equal(false);
    expect((await selector.choose()).target.port).to.equal(2);
    expect(selector.status().failovers).to.equal(1);
  });

  it('gives up after DB_FAILOVER_TIMEOUT_MS with every host named, and tries again on the next call', async () => {
    const kinds: Kind[] = ['down', 'standby'];
    const { probe, calls } = fakeProbe(kinds);
    const selector = new HostSelector(failover([1, 2], 'primary', { timeoutMs: 250 }), {
      probe,
      logger: spyLogger(sandbox),
      random: () => 0.5,
    });
    const started = performance.now();
    const error = await selector.choose().then(
      () => expect.fail('chose a host'),
      (e: unknown) => e as ConnectionError,
    );
    const took = performance.now() - started;
    expect(error).to.be.instanceOf(ConnectionError);
    expect(error.code).to.equal('08001');
    expect(error.message).to.match(
      /no host of DATABASE_URL was a primary server \(target_session_attrs\) within 250 ms/,
    );
    expect(error.message).to.include('127.0.0.1:1 down (connect ECONNREFUSED');
    expect(error.message).to.include('127.0.0.1:2 standby');
    expect(took).to.be.within(150, 2_000);
    // rounds with backoff in between, not a busy loop
    expect(calls.length).to.be.within(4, 12);
    kinds[1] = 'primary';
    expect((await selector.choose()).target.port).to.equal(2);
  });

  it('with load_balance_hosts=random, spreads the first choice over the hosts', async () => {
    const seen = new Set<number>();
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 40; i++) {
      const { probe } = fakeProbe(['primary', 'primary', 'primary']);
      const selector = new HostSelector(failover([1, 2, 3], 'any', { loadBalanceHosts: 'random' }), {
        probe,
        logger: spyLogger(sandbox),
        random,
      });
      seen.add((await selector.choose()).target.port);
    }
    expect([...seen].sort()).to.deep.equal([1, 2, 3]);
  });

  it('close() ends a search in its backoff at once, and aborts the probes in flight', async () => {
    const signals: AbortSignal[] = [];
    const probe = (_: ConnectionTarget, __: number, signal: AbortSignal): Promise<ServerRole> => {
      signals.push(signal);
      return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    };
    const selector = new HostSelector(failover([1, 2], 'read-write', { timeoutMs: 30_000 }), {
      probe,
      logger: spyLogger(sandbox),
    });
    const searching = selector.choose().then(
      () => expect.fail('chose a host'),
      (e: unknown) => e as Error,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = performance.now();
    selector.close();
    const error = await searching;
    expect(performance.now() - closed).to.be.below(100);
    expect(error.message).to.match(/closed/);
    expect(signals.every((signal) => signal.aborted)).to.equal(true);
    await selector.choose().then(
      () => expect.fail('chose a host after close'),
      (e: unknown) => expect((e as Error).message).to.match(/closed/),
    );
  });

  it('fails at once, without waiting for DB_FAILOVER_TIMEOUT_MS, when every host refuses the login', async () => {
    const probe = (): Promise<ServerRole> =>
      Promise.reject(Object.assign(new Error('password authentication failed for user "u"'), { code: '28P01' }));
    const selector = new HostSelector(failover([1, 2], 'read-write', { timeoutMs: 30_000 }), {
      probe,
      logger: spyLogger(sandbox),
    });
    const started = performance.now();
    const error = await selector.choose().then(
      () => expect.fail('chose a host'),
      (e: unknown) => e as ConnectionError,
    );
    expect(performance.now() - started).to.be.below(1_000);
    expect(error.message).to.match(/127\.0\.0\.1:1 down \(password authentication failed/);
  });
});
