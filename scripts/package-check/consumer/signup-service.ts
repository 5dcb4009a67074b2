// An application service that takes the user store through its constructor.
import { ConflictError, type User, type UserStore } from 'kysely-repository';

export type SignupResult = { ok: true; user: User } | { ok: false; reason: 'taken'; field: string };

export class SignupService {
  readonly #users: Pick<UserStore, 'createUser'>;

  constructor(users: Pick<UserStore, 'createUser'>) {
    this.#users = users;
  }

  async signUp(username: string, email: string, password: string): Promise<SignupResult> {
    try {
      return { ok: true, user: await this.#users.createUser({ username, email, password }) };
    } catch (error) {
      if (error instanceof ConflictError) return { ok: false, reason: 'taken', field: error.field };
      throw error;
    }
  }
}
