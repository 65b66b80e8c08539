#!/usr/bin/env bash
# Starts and stops a private, throw-away MariaDB server for net-engine's MySQL tests.
#
#   tests/db.sh start DIR     init a datadir in DIR, start mariadbd on 127.0.0.1:<free port> with a
#                             socket in DIR, create a database and a user with an awkward password,
#                             print `export NET_ENGINE_TEST_DSN='...'` and `export NET_ENGINE_TEST_DB_DIR='DIR'`
#   tests/db.sh stop DIR      stop that server (DIR is left for the caller to remove)
#   tests/db.sh down DIR      stop the server but keep everything, so that `up` can start it again
#   tests/db.sh up DIR        start a server created by `start` again, same port, same data
#   tests/db.sh run [--] CMD  start a server in a temporary directory, export its DSN, run CMD,
#                             stop the server and remove the directory; exits with CMD's status
#
# When mariadbd is missing and the script runs as root, it installs Debian's mariadb-server.
# Nothing here touches a system-wide server: no config files are read (--no-defaults), the server
# listens on loopback only, and everything it writes lives in DIR.
set -euo pipefail

DB_NAME=netengine_test
DB_USER=netengine
# Awkward on purpose: the DSN parsers must cope with @ : ! # in a password.
DB_PASSWORD='p@ss:w!rd#1'

die() {
    echo "db.sh: $*" >&2
    exit 1
}

# Bash variables are dynamically scoped: every helper declares its variables `local`, or it
# would overwrite its caller's (a stray `dir` here once moved a datadir into /usr/local/bin).
find_tool() {
    local name bin_dir
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
        for bin_dir in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
            if [ -x "$bin_dir/$name" ]; then
                echo "$bin_dir/$name"
                return 0
            fi
        done
    done
    return 1
}

ensure_mariadb() {
    if find_tool mariadbd >/dev/null; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        die "mariadbd not found; install mariadb-server (or run this script as root to install it)"
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        die "mariadbd not found and apt-get is not available; install MariaDB by hand"
    fi
    echo "db.sh: installing mariadb-server" >&2
    apt-get update -qq >&2
    # policy-rc.d style containers refuse to start services; that is fine, we start our own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2
    find_tool mariadbd >/dev/null || die "mariadb-server installed but mariadbd still not found"
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' && return 0
    fi
    # Fallback: a random high port that nothing answers on (start_server retries on a clash).
    local port
    while true; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
}

server_pid() {
    local dir=$1
    if [ -s "$dir/mysqld.pid" ]; then
        cat "$dir/mysqld.pid"
    fi
}

server_alive() {
    local pid
    pid=$(server_pid "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

admin() {
    local dir=$1
    shift
    "$(find_tool mariadb)" --no-defaults --protocol=socket -S "$dir/mysqld.sock" -uroot "$@"
}

# Starts mariadbd on the port stored in DIR/port and waits until it answers (30 s at most).
launch() {
    local dir=$1 port launcher
    port=$(cat "$dir/port")
    local user_flag=()
    if [ "$(id -u)" -eq 0 ]; then
        user_flag=(--user=root)
    fi
    rm -f "$dir/mysqld.pid"
    # setsid: the server must not share the caller's process group (a test runner's Ctrl-C
    # reaches us through `run`'s trap instead, which stops it cleanly).
    setsid "$(find_tool mariadbd)" --no-defaults "${user_flag[@]}" \
        --datadir="$dir/data" --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/mysqld.err" --port="$port" --bind-address=127.0.0.1 \
        --skip-name-resolve --performance-schema=OFF --skip-log-bin \
        --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=2 \
        --innodb-doublewrite=0 --max-connections=200 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        </dev/null >/dev/null 2>&1 &
    launcher=$!
    local attempt
    for attempt in $(seq 1 300); do
        if "$(find_tool mariadb-admin)" --no-defaults --protocol=socket -S "$dir/mysqld.sock" -uroot \
            --connect-timeout=1 ping >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$launcher" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

cmd_start() {
    local dir=$1
    ensure_mariadb
    # Only an empty directory or one this script set up before: never scribble into a real one.
    if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/port" ] && [ ! -d "$dir/data/mysql" ]; then
        die "$dir is not empty and was not made by db.sh; give a new or empty directory"
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if server_alive "$dir"; then
        die "a server from $dir is already running (pid $(server_pid "$dir"))"
    fi
    # A unix socket path is limited to ~107 bytes.
    [ ${#dir} -lt 90 ] || die "directory path too long for a unix socket: $dir"
    local user_flag=()
    if [ "$(id -u)" -eq 0 ]; then
        user_flag=(--user=root)
    fi
    if [ ! -d "$dir/data/mysql" ]; then
        "$(find_tool mariadb-install-db)" --no-defaults "${user_flag[@]}" \
            --auth-root-authentication-method=normal --skip-test-db \
            --datadir="$dir/data" >"$dir/install.log" 2>&1 \
            || die "mariadb-install-db failed, see $dir/install.log"
    fi
    local attempt
    for attempt in 1 2 3 4 5; do
        free_port >"$dir/port"
        if launch "$dir"; then
            break
        fi
        cmd_down "$dir" 2>/dev/null || true
        [ "$attempt" -lt 5 ] || die "mariadbd did not start, see $dir/mysqld.err"
    done
    admin "$dir" <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
SQL
    local port dsn
    port=$(cat "$dir/port")
    dsn="$DB_USER:$DB_PASSWORD@tcp(127.0.0.1:$port)/$DB_NAME?parseTime=true"
    {
        echo "export NET_ENGINE_TEST_DSN='$dsn'"
        echo "export NET_ENGINE_TEST_DB_DIR='$dir'"
    } | tee "$dir/env"
}

cmd_down() {
    local dir=$1 pid
    pid=$(server_pid "$dir")
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        return 0
    fi
    kill -TERM "$pid"
    local attempt
    for attempt in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "db.sh: mariadbd $pid ignored SIGTERM for 30 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

cmd_up() {
    local dir=$1
    [ -f "$dir/port" ] || die "$dir has no server created by 'db.sh start'"
    if server_alive "$dir"; then
        return 0
    fi
    launch "$dir" || die "mariadbd did not start again, see $dir/mysqld.err"
}

cmd_run() {
    [ "$#" -gt 0 ] || die "usage: db.sh run [--] COMMAND..."
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/net-engine-db.XXXXXX")
    # shellcheck disable=SC2064 # expand $dir now, on purpose
    trap "cmd_down '$dir'; rm -rf '$dir'" EXIT
    trap 'exit 130' INT TERM
    local exports
    exports=$(cmd_start "$dir")
    eval "$exports"
    echo "db.sh: MariaDB running in $dir on port $(cat "$dir/port")" >&2
    local status=0
    "$@" || status=$?
    return "$status"
}

main() {
    local command=${1:-}
    shift || true
    case "$command" in
    start | stop | down | up)
        [ "$#" -eq 1 ] || die "usage: db.sh $command DIR"
        ;;
    esac
    case "$command" in
    start) cmd_start "$1" ;;
    stop) cmd_down "$1" ;;
    down) cmd_down "$1" ;;
    up) cmd_up "$1" ;;
    run)
        [ "${1:-}" != "--" ] || shift
        cmd_run "$@"
        ;;
    *)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        [ "$command" = "-h" ] || [ "$command" = "--help" ] || exit 2
        ;;
    esac
}

main "$@"
