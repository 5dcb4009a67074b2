// The demo: connect, ping, print the server version. (The full lifecycle comes with the examples.)
import pg from 'pg';

const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const client = new pg.Client({ connectionString: url });
await client.connect();
const { rows } = await client.query<{ version: string }>('select version()');
console.log(`connected: ${rows[0]?.version ?? 'unknown'}`);
await client.end();
