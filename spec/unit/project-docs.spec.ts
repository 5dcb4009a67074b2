/**
 * The documents a newcomer reads: every relative link in the README, the changelog and docs/
 * resolves, the LICENSE is the license package.json declares, the README opens with the quick start
 * for an application and keeps the two commands for working on the package, and the changelog has
 * an Unreleased section. (The API reference's freshness is checked by `npm run lint`.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The markdown files a reader opens by hand (docs/api is generated and checked elsewhere). */
function documents(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', 'CHANGELOG.md', ...docs];
}

/** Relative link targets of a markdown text, without their #fragments (code spans and blocks left out). */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const links: string[] = [];
  for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1]!;
    if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
    links.push(target.split('#')[0]!);
  }
  return links;
}

describe('project documents', () => {
  it('every relative link in the README, the changelog and docs/ resolves to a file', () => {
    const broken: string[] = [];
    for (const document of documents()) {
      for (const link of relativeLinks(read(document))) {
        const target = join(ROOT, dirname(document), decodeURIComponent(link));
        if (!existsSync(target)) broken.push(`${document} → ${link}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it('LICENSE is the license package.json declares (MIT)', () => {
    const manifest = JSON.parse(read('package.json')) as { license: string };
    expect(manifest.license).to.equal('MIT');
    expect(read('LICENSE'))
      .to.match(/^MIT License\n/)
      .and.contain('Permission is hereby granted, free of charge');
  });

  it('the README opens with the quick start for an application and keeps the two package commands', () => {
    const readme = read('README.md');
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings[0]).to.equal('Quick start in your application');
    expect(readme).to.contain('npm install kysely-repository kysely');
    for (const step of ['migrate latest', 'codegen --out src/db.ts', 'withTransaction', 'sinon']) {
      expect(readme, step).to.contain(step);
    }
    expect(readme).to.contain('npm install && npm start');
    expect(readme).to.contain('npm install && npm test');
  });

  it('the changelog has an Unreleased section above the released versions', () => {
    const changelog = read('CHANGELOG.md');
    const unreleased = changelog.indexOf('## [Unreleased]');
    expect(unreleased).to.be.greaterThan(-1);
    expect(unreleased).to.be.lessThan(changelog.indexOf('## [0.1.0]'));
  });

  it('the documents name no file of this checkout by an absolute path', () => {
    for (const document of documents()) {
      expect(read(document), relative(ROOT, join(ROOT, document))).not.to.match(/\/(?:root|home|tmp)\/\w/);
    }
  });
});
