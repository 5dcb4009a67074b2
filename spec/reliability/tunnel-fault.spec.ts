/**
 * The SSH tunnel's fault mid-load: the real OpenSSH sshd serving the tunnel is killed (SIGKILL,
 * listener and every serving process, as a crash) while 200 clients run through it, stays down
 * for a second, and is started again on the same port. The same promise as for server faults:
 * in-flight calls fail with ConnectionError (TunnelError included) within 10 s, calls after the
 * tunnel is back succeed, no unhandled rejection, no crash, and no acknowledged write lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sshEnv, startSshServerOrSkip, type SshServer } from '../support/ssh-server.js';
import { createScratchDatabase } from '../support/test-server.js';
import { phases } from './support/phases.js';
import { LoadScenario } from './support/scenario.js';
import { runUnderFaults } from './support/under-faults.js';

const CLIENTS = 200;
const POOL_SIZE = 10;
const DOWNTIME_MS = 1_000;

describe('reliability: SSH tunnel fault mid-load (real sshd)', function () {
  const { warmupMs, afterMs, faultRounds } = phases();
  let server: SshServer | undefined;
  let scenario: LoadScenario | undefined;
  let target: { url: string; drop(): Promise<void> } | undefined;

  before(async function () {
    this.timeout(60_000);
    server = await startSshServerOrSkip(this, 'the SSH tunnel fault');
  });

  after(async function () {
    this.timeout(60_000);
    await scenario?.abandon().catch(() => undefined);
    await server?.destroy();
    await target?.drop();
  });

  it('sshd killed mid-load and started again: in-flight calls fail with ConnectionError, service resumes, no write lost', async function () {
    this.timeout(warmupMs + faultRounds * (afterMs + 40_000) + 90_000);
    const sshd = server!;
    target = await createScratchDatabase('kr_rel_tunnel');
    scenario = await LoadScenario.open({
      url: target.url,
      applicationName: `kr-rel-tunnel-${process.pid}`,
      clients: CLIENTS,
      poolSize: POOL_SIZE,
      prefix: 'tn',
      env: sshEnv(sshd, target.url, { DB_SSH_KEEPALIVE_MS: '1000' }),
    });
    await runUnderFaults(scenario, {
      label: 'sshd killed mid-load',
      inject: async () => {
        await sshd.kill();
        await sleep(DOWNTIME_MS);
        await sshd.start();
        return `sshd SIGKILLed, down ${DOWNTIME_MS / 1000} s, started`;
      },
      notes: (report) => {
        const tunnel = report.statusAfterLoad.tunnel;
        return [
          tunnel
            ? `tunnel ${tunnel.state}, ${tunnel.reconnects} reconnect(s), ${tunnel.handshakes} handshakes`
            : 'no tunnel status',
        ];
      },
    });
    scenario = undefined;
  });
});
