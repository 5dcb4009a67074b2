import { expect } from 'chai';
import { createDatabase, loadConfig, migrateToLatest, silentLogger, type Database, type DB } from '../../lib/index.js';
import { batch } from '../../examples/batch.js';
import { lifecycle } from '../../examples/lifecycle.js';
import { maintenance } from '../../examples/maintenance.js';
import { createScratchDatabase } from '../support/test-server.js';

// Every example runs here, on a server and on the embedded engine, so none of them rots.
for (const engine of ['postgres', 'pglite'] as const) {
  describe(`examples (${engine === 'postgres' ? 'real PostgreSQL' : 'embedded PGlite'})`, () => {
    let database: Database<DB>;
    let drop: () => Promise<void> = () => Promise.resolve();

    before(async function () {
      this.timeout(60_000);
      let url = 'pglite://';
      if (engine === 'postgres') {
        const scratch = await createScratchDatabase('kr_examples');
        url = scratch.url;
        drop = scratch.drop;
      }
      database = createDatabase<DB>({
        config: loadConfig({ DATABASE_URL: url }, { envFile: '/dev/null' }),
        logger: silentLogger,
      });
      await migrateToLatest(database.db);
    });

    after(async () => {
      await database.close();
      await drop();
    });

    it('lifecycle: created, fetched, updated, verified, listed, stats, pool status', async () => {
      const lines: string[] = [];
      await lifecycle(database, (line) => lines.push(line), { bcryptCost: 4 });
      expect(lines.map((l) => l.split(':')[0])).to.deep.equal([
        'created',
        'fetched',
        'updated',
        'verified',
        'listed',
        'stats',
        'pool',
      ]);
      expect(lines[0]).to.match(/^created: +#1 john_doe_\w+ <john_doe_\w+@example\.com> active=true$/);
      expect(lines[2]).to.match(/email is now john_doe_\w+\.new@example\.com$/);
      expect(lines[3]).to.contain('right password -> user #1, wrong password -> refused');
      expect(lines[5]).to.contain('total 1, active 1, inactive 0');
      expect(lines[6]).to.contain(`engine ${engine}`);
      expect(lines.join('\n')).not.to.match(/\$2[aby]\$/);
    });

    it('batch: three users in one transaction, then a batch failing on its third keeps none', async () => {
      const lines: string[] = [];
      await batch(database, (line) => lines.push(line), { bcryptCost: 4 });
      expect(lines[0]).to.match(/^batch 1: +created #\d+ alice_\w+, #\d+ bob_\w+, #\d+ carol_\w+ in one transaction$/);
      expect(lines[1]).to.match(/failed on its third user: Username 'alice_\w+' already exists$/);
      expect(lines[2]).to.contain('0 of its users kept');
    });

    it('maintenance: table info, VACUUM ANALYZE, pool status', async () => {
      const lines: string[] = [];
      await maintenance(database, (line) => lines.push(line));
      expect(lines[0]).to.match(/^table: +users: 4 rows/);
      expect(lines[2]).to.contain('primary (id)').and.contain('users_email_lower_key');
      expect(lines[3]).to.match(/last vacuum \d{4}-.*last analyze \d{4}-.*estimate now 4$/);
      expect(lines[4]).to.contain(`engine ${engine}`);
    });
  });
}
