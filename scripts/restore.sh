#!/usr/bin/env bash
# Restore a Jiefen backup (scripts/backup.sh) into a fresh, empty PostgreSQL database.
#
#   scripts/restore.sh BACKUP_FILE DATABASE_URL
#
# DATABASE_URL names the target (libpq URL, or postgresql+asyncpg://… as the service takes it);
# create it first (`createdb jiefen_restored`). The restore runs in one transaction and stops
# at the first error, so it either completes or leaves the database empty. It refuses a database
# that already has tables: restoring over live data is never what you want.
# Afterwards: `jiefen audit verify` (the hash chains are intact) and `jiefen migrate` (a no-op
# when the dump came from the same version; brings an older dump up to date otherwise).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BACKUP_FILE DATABASE_URL" >&2; exit 2; }
dump=$1
url=${2/postgresql+asyncpg:\/\//postgresql://}
PG_RESTORE=${PG_RESTORE:-pg_restore}
PSQL=${PSQL:-psql}

[ -r "$dump" ] || { echo "cannot read $dump" >&2; exit 2; }
tables=$("$PSQL" --no-psqlrc --tuples-only --no-align --dbname="$url" \
  --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != "0" ]; then
  echo "refusing to restore: the target database already has $tables tables (use a fresh one)" >&2
  exit 1
fi
"$PG_RESTORE" --no-owner --no-privileges --single-transaction --exit-on-error --dbname="$url" "$dump"
cases=$("$PSQL" --no-psqlrc --tuples-only --no-align --dbname="$url" --command="SELECT count(*) FROM cases")
echo "restored $dump: $cases cases. Next: jiefen audit verify, then jiefen migrate."
