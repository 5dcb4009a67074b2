import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

// In a process of its own: before the pg driver's self-tests run, the text is the package's own,
// which must be pg's (the embedded engine sends arrays with it, and so does pg when its own is off).
const PROGRAM = `
import pg from 'pg';
import { arrayParameterText, pgInternalsReport } from './lib/connection/pg/pg-internals.ts';
const arrays = [
  [1, 2, 3], ['a b', 'c"d', 'e\\\\f', '', null], [[1, 2], [3, null]], [true, false], [10n, -1.5],
  [new Date(Date.UTC(2024, 0, 1, 12, 30, 15, 123)), new Date(Date.UTC(-50, 5, 1))],
  [{ a: [1, 'x'] }, ['nested', ['deeper']]], [Buffer.from('hi'), new Uint8Array([1, 255])], [], [undefined],
];
const own = arrays.map((a) => arrayParameterText(a));
const theirs = arrays.map((a) => pg.utils.prepareValue(a));
process.stdout.write(JSON.stringify({ prepareValue: pgInternalsReport().prepareValue, own, theirs }));
`;

describe('the text of an array parameter (pg-internals)', () => {
  it("is pg's own, element for element, on the package's path too", async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROGRAM], {
      env: { ...process.env, TZ: 'America/St_Johns' },
    });
    const { prepareValue, own, theirs } = JSON.parse(stdout) as {
      prepareValue: boolean;
      own: string[];
      theirs: string[];
    };
    expect(prepareValue, "pg's own path is off before the self-tests").to.equal(false);
    expect(own).to.deep.equal(theirs);
  });
});
