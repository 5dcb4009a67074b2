// The main exports, used the way the README shows; compiled (skipLibCheck off), not run.
import {
  ConflictError,
  createDatabase,
  DatabaseError,
  loadConfig,
  NotFoundError,
  Repository,
  UserRepository,
  ValidationError,
  withTransaction,
  migrateToLatest,
  type DB,
  type Page,
  type User,
  type UserStore,
} from 'kysely-repository';

export async function usage(): Promise<void> {
  const config = loadConfig({ DATABASE_URL: 'postgres://app@127.0.0.1:5432/app' });
  const database = createDatabase<DB>({ config });
  try {
    await migrateToLatest(database.db);
    const users: UserStore = new UserRepository(database.db);
    const created: User = await users.createUser({
      username: 'ada',
      email: 'ada@example.com',
      password: 'a long password',
    });
    const page: Page<User> = await users.listUsersPage({ limit: 10 });
    const rows = new Repository(database.db, 'users');
    const found = await rows.findOne({ username: created.username });
    const count: number = await rows.count({ isActive: true });
    await withTransaction(database.db, async (trx) => {
      await rows.withTransaction(trx).update(created.id, { isActive: false });
    });
    console.log(page.items.length, found?.email, count, database.status().pool);
  } catch (error) {
    if (error instanceof ConflictError) console.log(error.field);
    else if (error instanceof ValidationError || error instanceof NotFoundError) console.log(error.message);
    else if (error instanceof DatabaseError) console.log(error.code);
    throw error;
  } finally {
    await database.close();
  }
}
