import { ConnectionError } from '../errors.js';

/**
 * Races `promise` against a timer of `ms`; when the timer wins, the result is a ConnectionError
 * with `message` (the promise itself is left to settle on its own).
 * @throws ConnectionError on timeout; whatever `promise` rejects with.
 */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConnectionError(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
