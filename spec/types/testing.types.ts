/**
 * Type specs for kysely-repository/testing, compiled by `tsc --noEmit` in `npm run lint`, never
 * run: stubRepository's stubs take only values of their method's own return type.
 */
import { expectTypeOf } from 'expect-type';
import type { Generated } from 'kysely';
import * as api from '../../lib/index.js';
import { stubRepository, type StubbedRepository } from '../../lib/testing/index.js';

interface Shop {
  orders: { id: Generated<string>; customer: string; total: number };
}

/** Never called: tsc checks the assertions in its body. */
export function stubRepositoryTypes(user: api.User, order: { id: string; customer: string; total: number }): void {
  const users = stubRepository(api.UserRepository);
  expectTypeOf(users).toEqualTypeOf<StubbedRepository<api.UserRepository>>();
  // usable wherever the class is expected (constructor injection)
  expectTypeOf(users).toExtend<api.UserRepository>();
  users.getUserById.resolves(user);
  users.getUserById.resolves(undefined);
  // @ts-expect-error a string is not what getUserById resolves to
  users.getUserById.resolves('ada');
  // @ts-expect-error getUserById returns a promise of a User, not a User
  users.getUserById.returns(user);

  const orders = stubRepository<api.Repository<Shop, 'orders'>>(api.Repository);
  orders.findById.resolves(order);
  // @ts-expect-error total is a number
  orders.findById.resolves({ ...order, total: '12' });
  expectTypeOf(orders).not.toHaveProperty('missing');
}
