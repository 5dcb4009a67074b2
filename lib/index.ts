// The public surface of kysely-repository: named re-exports only.
export {};
