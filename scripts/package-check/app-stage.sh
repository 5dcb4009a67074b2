#!/usr/bin/env bash
# Stage 3 of the package check, in the scratch project ($1), with DATABASE_URL set to a fresh
# database (run.sh starts it through with-database.ts): what an application's own CI would do.
set -euo pipefail
cd "$1"
step() { echo "package check: $*"; }

npx kysely-repository migrate latest
npx kysely-repository migrate status
npx kysely-repository codegen --out src/db.ts
npx kysely-repository codegen --out src/db.ts --verify
step "codegen --verify: src/db.ts matches the database"
npx tsc -p tsconfig.json
step "app compiles: module nodenext, skipLibCheck false"
npx tsc -p tsconfig.bundler.json
step "app compiles: moduleResolution bundler, skipLibCheck false"
npx mocha
