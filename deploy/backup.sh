#!/bin/sh
# The nightly backup of one messaging host: the database first, then the uploads (files
# are written once and named by id, so a copy taken after the dump holds every file the
# dump refers to). deploy/systemd/messaging-backup.timer runs it as the messaging user
# with the service's environment file; README, "Deploy", step 6 (restore included).
#
#   DATABASE_URL   the service's (SQLAlchemy's postgresql+DRIVER:// is given to pg_dump as postgresql://)
#   UPLOAD_DIR     the service's; unset: INSTANCE_PATH/uploads (/var/lib/messaging/uploads)
#   BACKUP_DIR     where the backups go (default /var/backups/messaging)
#   BACKUP_KEEP_DAYS  older ones are deleted (default 14)
#
# It writes db-DATE.dump (pg_dump's custom format) and uploads-DATE.tgz, each under a
# temporary name renamed once complete. Copy BACKUP_DIR off the host afterwards: a backup
# on the host's own disk is lost with it.
set -eu

backup_dir=${BACKUP_DIR:-/var/backups/messaging}
keep_days=${BACKUP_KEEP_DAYS:-14}
database=$(printf '%s' "${DATABASE_URL:?DATABASE_URL is not set}" | sed 's|^postgresql+[A-Za-z0-9_]*://|postgresql://|')
uploads=${UPLOAD_DIR:-${INSTANCE_PATH:-/var/lib/messaging}/uploads}
uploads=${uploads%/}
day=$(date +%F)
umask 077

pg_dump --format=custom --file="$backup_dir/db-$day.dump.part" --dbname="$database"
mv -f "$backup_dir/db-$day.dump.part" "$backup_dir/db-$day.dump"

if [ -d "$uploads" ]; then
  tar -C "$(dirname "$uploads")" -czf "$backup_dir/uploads-$day.tgz.part" "$(basename "$uploads")"
else  # nothing uploaded yet: an empty archive, so that every dump has its uploads
  tar -czf "$backup_dir/uploads-$day.tgz.part" -T /dev/null
fi
mv -f "$backup_dir/uploads-$day.tgz.part" "$backup_dir/uploads-$day.tgz"

find "$backup_dir" -maxdepth 1 -type f \( -name 'db-*.dump' -o -name 'uploads-*.tgz' \) \
  -mtime +"$keep_days" -delete
echo "backup: $backup_dir/db-$day.dump and $backup_dir/uploads-$day.tgz"
