/**
 * The public surface of kysely-repository: named re-exports only.
 * @module kysely-repository
 */
export {
  loadConfig,
  sealConfig,
  CONFIG_VARIABLES,
  type ConfigVariable,
  type UnknownVariable,
  type ConnectionTarget,
  type DatabaseConfig,
  type FailoverConfig,
  type TargetSessionAttrs,
  type LoadConfigOptions,
  type LogLevel,
  type PgBouncerMode,
  type PoolConfig,
  type SshConfig,
} from './config.js';
export {
  createDatabase,
  type CreateDatabaseOptions,
  type Database,
  type DatabaseStatus,
  type HealthReport,
  type PoolStatus,
} from './database.js';
export type { TelemetryOptions } from './telemetry/telemetry-options.js';
export type { FailoverStatus, HostRole, HostState, HostStatus } from './connection/failover/host-selector.js';
export { createDialect, type CreateDialectOptions } from './create-dialect.js';
export {
  CheckViolationError,
  ConfigError,
  ConflictError,
  ConnectionError,
  DatabaseError,
  DeadlockError,
  ForeignKeyViolationError,
  IntegrityConstraintViolationError,
  NotFoundError,
  NotNullViolationError,
  OptimisticLockError,
  PoolTimeoutError,
  QueryTimeoutError,
  ReadOnlyTransactionError,
  SerializationError,
  TransactionRollbackError,
  TunnelError,
  UniqueViolationError,
  ValidationError,
  mapError,
  type ConnectionErrorOptions,
  type DatabaseErrorOptions,
  type MapErrorOptions,
  type ErrorFields,
} from './errors.js';
export {
  createLogger,
  redactingLogger,
  silentLogger,
  type CreateLoggerOptions,
  type LogMeta,
  type Logger,
} from './logger.js';
export type { TunnelState, TunnelStatus } from './connection/ssh/ssh-tunnel.js';
export {
  migrateDown,
  migrateToLatest,
  migrateUp,
  migrationStatus,
  packageMigrations,
  PACKAGE_MIGRATION_LOCK_TABLE,
  PACKAGE_MIGRATION_TABLE,
  type MigrationRun,
  type MigrationState,
  type MigrationStep,
} from '../schema/migrator.js';
export type { DB, Users } from '../schema/db.js';
export { withTransaction } from './transaction/with-transaction.js';
export { currentTransaction } from './transaction/current-transaction.js';
export { afterCommit, afterRollback } from './transaction/transaction-hooks.js';
export type {
  AccessMode,
  IsolationLevel,
  Propagation,
  TransactionHook,
  TransactionOptions,
} from './transaction/transaction-options.js';
export { Repository } from './repository/repository.js';
export { allRows, type AllRows } from './repository/all-rows.js';
export type {
  ColumnOf,
  CreateManyOptions,
  DeletedFilter,
  FindByIdOptions,
  FindManyQuery,
  Id,
  KeyColumns,
  KeyOf,
  KeyPart,
  NewRowOf,
  NumericColumnOf,
  OrderBy,
  Page,
  PageRequest,
  PatchOf,
  RepositoryOptions,
  RepositoryOptionsOf,
  RowOf,
  SoftDeleteOptions,
  Where,
} from './repository/repository-types.js';
export { UserRepository, type UserRepositoryOptions } from './users/user-repository.js';
export type {
  CountUsersOptions,
  ListUsersOptions,
  ListUsersPageOptions,
  NewUser,
  UserChanges,
  UserStats,
  UserStore,
} from './users/user-store.js';
export type { User } from './users/user.js';
export type { PasswordHasher } from './users/password-hasher.js';
export { BcryptPasswordHasher, type BcryptPasswordHasherOptions } from './users/bcrypt-password-hasher.js';
export { DEFAULT_USER_POLICY, resolveUserPolicy, type UserPolicy } from './users/user-policy.js';
export {
  validateEmail,
  validatePassword,
  validateUserChanges,
  validateUsername,
  type ValidUserChanges,
} from './users/user-validation.js';
export {
  getTableInfo,
  vacuumAnalyze,
  type ColumnInfo,
  type ForeignKeyAction,
  type ForeignKeyInfo,
  type IndexInfo,
  type MaintenanceOptions,
  type TableInfo,
} from './maintenance.js';
export { type ReplicaStatus } from './database.js';
export type { ReplicaState } from './connection/replicas/replica-set.js';
export { UNSCOPED_READ_YOUR_WRITES_MS, withReadYourWrites } from './connection/replicas/read-your-writes.js';
