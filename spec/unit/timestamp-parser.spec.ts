import { expect } from 'chai';
import pg from 'pg';
import { fastTypeParser, readTimestamptz } from '../../lib/connection/pg/timestamp-parser.js';

const pgParse = pg.types.getTypeParser(1184, 'text') as (text: string) => unknown;

/** A deterministic pseudo-random source, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Timestamptz text in PostgreSQL's ISO output: 0–6 fraction digits, offsets of ±HH, ±HH:MM, ±HH:MM:SS. */
function timestampText(next: () => number): string {
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const digits = int(0, 6);
  const fraction = digits === 0 ? '' : `.${pad(int(0, 10 ** digits - 1), digits)}`.replace(/0+$/, '');
  const offsetForm = int(0, 2);
  const sign = next() < 0.5 ? '+' : '-';
  const offset =
    `${sign}${pad(int(0, 14), 2)}` +
    (offsetForm >= 1 ? `:${pad(int(0, 59), 2)}` : '') +
    (offsetForm === 2 ? `:${pad(int(0, 59), 2)}` : '');
  const date = `${pad(int(1000, 9999), 4)}-${pad(int(1, 12), 2)}-${pad(int(1, 28), 2)}`;
  const time = `${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}:${pad(int(0, 59), 2)}`;
  return `${date} ${time}${fraction === '.' ? '' : fraction}${offset}`;
}

describe('the timestamptz reader', () => {
  it("gives the very Date pg's own parser gives, on 100,000 random timestamps", () => {
    const next = random(20261127);
    const differ: string[] = [];
    for (let n = 0; n < 100_000; n++) {
      const text = timestampText(next);
      if (readTimestamptz(text)?.getTime() !== (pgParse(text) as Date).getTime()) differ.push(text);
    }
    expect(differ).to.deep.equal([]);
  });

  it('reads the edges of the common form the same way', () => {
    for (const text of [
      '2026-11-27 10:00:00+00',
      '2026-11-27 10:00:00.999999+00',
      '2026-11-27 10:00:00.000001-00',
      '2026-11-27 10:00:00.5+05:30',
      '1960-06-01 12:00:00-00:44:30',
      '1000-01-01 00:00:00+14',
      '9999-12-31 23:59:59.999999-12',
      '2024-02-29 23:59:60+00', // a leap second as text: Date.UTC rolls it over, as pg does
    ]) {
      expect(readTimestamptz(text)?.getTime(), text).to.equal((pgParse(text) as Date).getTime());
    }
  });

  it('leaves every other form to the registered parser', () => {
    for (const text of [
      'infinity',
      '-infinity',
      '0099-01-01 00:00:00+00',
      '0001-01-01 00:00:00+00 BC',
      '12345-01-01 00:00:00+00',
      '2026-11-27 10:00:00.1234567+00',
      '2026-11-27T10:00:00+00',
      '2026-11-27 10:00:00Z',
      '2026-11-27 10:00:00',
      '2026-11-27 10:00:00+0',
      '2026-11-27 10:00:00+00:3',
      'Fri Nov 27 10:00:00 2026 UTC',
      '',
    ]) {
      expect(readTimestamptz(text), text).to.equal(undefined);
    }
    const parse = fastTypeParser(1184, 'text');
    expect(parse('infinity')).to.equal(Infinity);
    expect((parse('0001-01-01 00:00:00+00 BC') as Date).getTime()).to.equal(
      (pgParse('0001-01-01 00:00:00+00 BC') as Date).getTime(),
    );
  });

  it('stands aside for a parser the application registered that does not make Dates', () => {
    const keepText = (text: string) => text;
    pg.types.setTypeParser(1184, keepText);
    try {
      expect(fastTypeParser(1184, 'text')).to.equal(keepText);
    } finally {
      pg.types.setTypeParser(1184, pgParse);
    }
    expect(fastTypeParser(1184, 'text')('2026-11-27 10:00:00+00')).to.be.instanceOf(Date);
    expect(fastTypeParser(23, 'text')).to.equal(pg.types.getTypeParser(23, 'text'));
  });
});
