/**
 * The testing kit: sandboxed transactional specs, test databases, a statement recorder and typed
 * stubs. Named re-exports only; the main entry loads nothing of it.
 * @module kysely-repository/testing
 */
export { openSandbox, type Sandbox, type SandboxOptions } from './sandbox.js';
export {
  mochaSandbox,
  withoutSandbox,
  type HookContext,
  type MochaTest,
  type MochaSandbox,
  type MochaSandboxOptions,
} from './mocha-sandbox.js';
export {
  createTemplateDatabase,
  createTestDatabase,
  resolveTestServer,
  type TemplateDatabase,
  type TestDatabase,
  type TestDatabaseOptions,
} from './test-database.js';
export { recordQueries, type QueryRecording, type RecordedKind, type RecordedQuery } from './record-queries.js';
export { stubRepository, type StubbedRepository, type StubRepositoryOptions } from './stub-repository.js';
