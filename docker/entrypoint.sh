#!/bin/sh
# Entry point of the study image: names this container for the trials it runs, then runs the
# command. Scaled replicas share one environment and, with host networking, one host name, so the
# container id (from the mount of /etc/hostname) tells their trials apart.
set -eu
if [ -z "${STUDY_WORKER_ID:-}" ]; then
    id=$(sed -n 's#.*/containers/\([0-9a-f]\{12\}\)[0-9a-f]*/hostname .*#\1#p' /proc/self/mountinfo \
        | head -n 1)
    STUDY_WORKER_ID="$(hostname)${id:+-$id}"
    export STUDY_WORKER_ID
fi
exec "$@"
