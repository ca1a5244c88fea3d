#!/usr/bin/env bash
# Back up the Jiefen PostgreSQL database into one custom-format archive (pg_dump -Fc).
#
#   scripts/backup.sh DATABASE_URL OUTPUT_FILE
#
# DATABASE_URL is a libpq URL or JIEFEN_DATABASE_URL as the service takes it
# (postgresql+asyncpg://… is accepted); without it, JIEFEN_DATABASE_URL is used. The dump is one
# consistent snapshot taken while the service runs (pg_dump reads in one repeatable-read
# transaction), is written to a temporary name and renamed only once it is complete and
# readable, so a failed run never leaves a truncated file under the final name.
# Personal data stays encrypted in the dump: keep JIEFEN_DATA_KEY safe, and apart from it.
set -euo pipefail

usage() { echo "usage: $0 [DATABASE_URL] OUTPUT_FILE" >&2; exit 2; }
if [ $# -eq 2 ]; then url=$1; out=$2
elif [ $# -eq 1 ] && [ -n "${JIEFEN_DATABASE_URL:-}" ]; then url=$JIEFEN_DATABASE_URL; out=$1
else usage; fi

url=${url/postgresql+asyncpg:\/\//postgresql://}
PG_DUMP=${PG_DUMP:-pg_dump}
PG_RESTORE=${PG_RESTORE:-pg_restore}

partial="$out.partial"
trap 'rm -f "$partial"' EXIT
"$PG_DUMP" --format=custom --compress=6 --no-owner --no-privileges --file="$partial" --dbname="$url"
# A dump that cannot be listed cannot be restored: check before calling it a backup.
if ! listing=$("$PG_RESTORE" --list "$partial"); then
  echo "the archive pg_dump wrote cannot be read by pg_restore: no backup written to $out" >&2
  exit 1
fi
entries=$(grep -c ' TABLE DATA ' <<<"$listing" || true)
if ! grep -q ' TABLE DATA public alembic_version ' <<<"$listing"; then
  where=${url/\/\/*@/\/\/}  # without user and password: this line may end up in cron mail
  echo "the dump holds no Jiefen schema (no alembic_version): is $where the Jiefen database?" \
    "No backup written to $out" >&2
  exit 1
fi
mv "$partial" "$out"
trap - EXIT
echo "backup written to $out ($(du -h "$out" | cut -f1), $entries tables with data)"
