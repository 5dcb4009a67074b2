/**
 * Type specs for the return types of the repository methods (Repository, UserRepository),
 * compiled by `tsc --noEmit` in `npm run lint`, never run. Whoever adds a repository adds its
 * `expectTypeOf` assertions here, against a `Kysely<DB>` as in schema.types.ts, for example:
 *
 *   declare const users: UserRepository;
 *   expectTypeOf(users.getUserById('1')).resolves.toEqualTypeOf<User | undefined>();
 *   expectTypeOf<User>().not.toHaveProperty('passwordHash');
 */
export {};
