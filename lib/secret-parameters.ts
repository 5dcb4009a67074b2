/**
 * Statement parameters known to carry secrets. Whoever binds a value to a secret column (a
 * repository, for its secretColumns) marks the statement's parameter list with that value, and
 * the query log masks it wherever it appears in the parameters: by meaning, whatever its format.
 */

const marked = new WeakMap<readonly unknown[], readonly string[]>();

/** Records that `parameters` carry each of `secrets` (nothing when there are none). Never throws. */
export function markSecretParameters(parameters: readonly unknown[], secrets: readonly string[]): void {
  if (secrets.length > 0) marked.set(parameters, secrets);
}

/** The secrets `parameters` were marked with, or none. Never throws. */
export function secretParameters(parameters: readonly unknown[]): readonly string[] {
  return marked.get(parameters) ?? [];
}
