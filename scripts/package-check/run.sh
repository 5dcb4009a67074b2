#!/usr/bin/env bash
# The package check: uses kysely-repository the way a user gets it, from the tarball `npm pack` makes.
#
#   1. pack (prepack cleans and builds dist/), unpack, check the file list, the entry points and that
#      every source map's sources are inside the tarball;
#   2. a scratch project outside this repository installs the tarball with kysely, typescript, mocha,
#      sinon and tsx (the versions of our own lockfile), compiles a program importing EVERY export
#      (the list is generated from the package, so a new export cannot be forgotten) with
#      skipLibCheck off under moduleResolution nodenext and bundler, and runs a mocha spec that
#      injects a sinon-stubbed UserRepository into a service;
#   3. the fixture application in app/ (copied into the same scratch project): its own migrations
#      (a uuid key, a composite key) applied by `kysely-repository migrate latest` to a database made
#      for this run, types by `kysely-repository codegen` (then `--verify`), repositories, a
#      transaction, compiled under both resolutions, and its specs (one on the real database, one
#      with a sinon stub) run by mocha.
#
# The server: TEST_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432 (trust
# auth), else a throwaway cluster (as for the specs). The run's database is dropped at the end, also
# on failure. PACKAGE_CHECK_KEEP=1 keeps the scratch directory and prints where it is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
started=$SECONDS
tsx="$root/node_modules/.bin/tsx"

work="$(mktemp -d)"
cleanup() {
  local status=$?
  if [ "${PACKAGE_CHECK_KEEP:-}" = 1 ]; then
    echo "package check: scratch project kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { echo "package check: $*"; }

# The version of a package in our own lockfile (what the specs here run with).
locked() {
  node -e 'const lock = require(process.argv[1]); const entry = lock.packages["node_modules/" + process.argv[2]];
    if (!entry) { console.error("not in package-lock.json: " + process.argv[2]); process.exit(1); }
    console.log(entry.version);' "$root/package-lock.json" "$1"
}

# 1. The tarball.
step "node $(node --version), npm $(npm --version)"
npm pack --pack-destination "$work" --loglevel=warn >&2
tarball="$(echo "$work"/kysely-repository-*.tgz)"
[ -f "$tarball" ] || { echo "npm pack made no tarball" >&2; exit 1; }
mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
"$tsx" "$here/check-tarball.ts" "$work/unpacked/package"
step "tarball $(basename "$tarball"): $(du -k "$tarball" | cut -f1) kB packed"

# 2. A scratch project: the fixture application plus the consumer checks.
project="$work/project"
mkdir "$project"
cp -R "$here/app/." "$project/"
cp -R "$here/consumer" "$project/consumer"
rm -f "$project/src/db.ts" # generated below, from the database
# What the scratch project installs: the tarball, and the versions of our own lockfile (a failed
# lookup stops the run here rather than installing whatever is newest).
packages=("$tarball")
for name in kysely typescript mocha sinon tsx kysely-codegen @types/mocha @types/sinon; do
  version="$(locked "$name")"
  packages+=("$name@$version")
done
packages+=("@types/node@$(node -p 'process.versions.node.split(".")[0]')") # the Node line it runs on
(cd "$project" && npm install --no-audit --no-fund --loglevel=error "${packages[@]}")

"$tsx" "$here/every-export.ts" "$project" "$project/consumer/all-exports.ts"
(
  cd "$project"
  npx tsc -p consumer/tsconfig.json
  step "consumer compiles: module nodenext, skipLibCheck false"
  npx tsc -p consumer/tsconfig.bundler.json
  step "consumer compiles: moduleResolution bundler, skipLibCheck false"
  npx mocha --config consumer/.mocharc.json
)

# 3. The application, on a database of its own.
"$tsx" "$here/with-database.ts" bash "$here/app-stage.sh" "$project"

step "passed in $((SECONDS - started)) s"
