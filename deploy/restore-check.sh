#!/bin/sh
# The nightly restore check (installed as /usr/local/bin/openkap-restore-check): the newest
# backup is restored into a fresh scratch database and must verify, or the unit fails and
# the failure reaches whoever watches systemd (OnFailure=, monitoring of failed units).
set -eu
. /etc/openkap/openkap.env
latest=$(ls -1t /var/lib/openkap/backups/openkap-* | head -n 1)
dropdb --if-exists openkap_restore_check
createdb openkap_restore_check
DATABASE_URL="$RESTORE_CHECK_DATABASE_URL" /opt/openkap/venv/bin/openkap restore "$latest"
dropdb openkap_restore_check
# Keep 30 days of backups on the server; the off-site copy keeps the retention policy's.
find /var/lib/openkap/backups -name 'openkap-*' -mtime +30 -delete
