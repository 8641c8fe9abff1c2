#!/usr/bin/env bash
# An MLflow tracking server on PostgreSQL, on this machine only (127.0.0.1), for `tracking=server`.
#
#   scripts/server.sh start    # PostgreSQL + `mlflow server`; prints the tracking URI
#   scripts/server.sh stop     # stops both by the PIDs recorded at start; checks the ports close
#   scripts/server.sh status   # what runs, on which ports
#
# Everything lives in one folder (git-ignored): $NNFS_SERVER_DIR, default <project>/.server/
#   postgres/data/      the PostgreSQL cluster (owned by the `postgres` user when run as root:
#                       PostgreSQL refuses to run as root)
#   postgres/server.log PostgreSQL's log;  mlflow.log  the MLflow server's log
#   artifacts/          run artifacts (figures, models), served by the MLflow server
#   pgpass              the database password (mode 600), read by libpq through PGPASSFILE so that
#                       no secret appears on a command line or in the tracking URI
#   postgres.pid, mlflow.pid, server.env   what `stop` needs: PIDs and ports
# Settings (environment): NNFS_MLFLOW_PORT (5050; `mlflow ui` keeps its 5000), NNFS_PG_PORT
# (55432), NNFS_SERVER_DIR, NNFS_MLFLOW (the mlflow executable; default .venv/bin/mlflow), PG_BIN
# (PostgreSQL's bin folder; default the newest /usr/lib/postgresql/<version>/bin),
# NNFS_SERVER_TIMEOUT (seconds to wait for each server, default 120).
set -euo pipefail
set +m  # no job control: a background command stays in our process group (see start_mlflow)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${NNFS_SERVER_DIR:-$ROOT/.server}"
MLFLOW_PORT="${NNFS_MLFLOW_PORT:-5050}"
PG_PORT="${NNFS_PG_PORT:-55432}"
TIMEOUT="${NNFS_SERVER_TIMEOUT:-120}"
HOST=127.0.0.1
DB=mlflow
DB_USER=nnfs
PG_DIR="$DIR/postgres"
PGDATA="$PG_DIR/data"

die() { echo "server.sh: error: $*" >&2; exit 1; }
say() { echo "server.sh: $*" >&2; }

port_open() {  # is something listening on 127.0.0.1:$1 ?
  ( { exec 3<>"/dev/tcp/$HOST/$1"; } 2>/dev/null )
}

# a zombie (exited, not yet reaped: PID 1 of some containers never reaps) counts as gone
alive() { kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; }

group_alive() {  # is any live process left in process group $1 ?
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# The PID recorded in $DIR/<name>.pid if that process still runs AND is ours (a PID file left
# by a reboot may name an unrelated process now: never signal that one), else nothing.
recorded() {
  local f="$DIR/$1.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  case "$1" in
    postgres)  # the postmaster runs with -D <our data folder>
      alive "$pid" && [[ "$(ps -o args= -p "$pid" 2>/dev/null)" == *"$PGDATA"* ]] \
        && echo "$pid" ;;
    mlflow)  # a process group of mlflow server / its uvicorn workers
      ps -eo pgid=,stat=,args= | awk -v g="$pid" \
        '$1 == g && $2 !~ /^Z/ && /mlflow/ { found = 1 } END { exit !found }' \
        && echo "$pid" ;;
  esac
  return 0
}

find_pg_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/initdb" ]] || die "PG_BIN=$PG_BIN has no initdb; allowed: PostgreSQL's bin folder"
    return
  fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$d" && -x "$d/initdb" ]]; then PG_BIN="$d"; return; fi
  if command -v initdb >/dev/null 2>&1; then PG_BIN="$(dirname "$(command -v initdb)")"; return; fi
  die "PostgreSQL server not found (no initdb in /usr/lib/postgresql/*/bin nor on PATH); install it: apt-get install -y postgresql"
}

find_mlflow() {
  MLFLOW="${NNFS_MLFLOW:-}"
  if [[ -z "$MLFLOW" ]]; then
    if [[ -x "$ROOT/.venv/bin/mlflow" ]]; then MLFLOW="$ROOT/.venv/bin/mlflow"
    else MLFLOW="$(command -v mlflow || true)"; fi
  fi
  [[ -n "$MLFLOW" && -x "$MLFLOW" ]] || die "mlflow not found; run: make setup (or set NNFS_MLFLOW)"
  local py
  py="$(dirname "$MLFLOW")/python"
  if [[ -x "$py" ]] && ! "$py" -c "import psycopg2" 2>/dev/null; then
    die "psycopg2 (PostgreSQL driver) missing in $(dirname "$(dirname "$MLFLOW")"); run: $py -m pip install -e '$ROOT[distributed]'"
  fi
}

check_port() {  # $1 name of the setting, $2 port
  [[ "$2" =~ ^[0-9]+$ ]] && (( $2 > 0 && $2 < 65536 )) \
    || die "$1=$2 is not valid; allowed: a TCP port number 1-65535"
  if port_open "$2"; then
    die "$1=$2 is taken (something listens on $HOST:$2); allowed: a free port, e.g. $1=$(( $2 + 1 ))"
  fi
}

# PostgreSQL will not run as root: as root, run its tools as the `postgres` user
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user (apt-get install -y postgresql)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_q() {  # psql as the database owner over TCP (password from $DIR/pgpass)
  PGPASSFILE="$DIR/pgpass" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" \
    -U "$DB_USER" "$@"
}

init_postgres() {
  [[ -f "$PGDATA/PG_VERSION" ]] && return
  say "creating a PostgreSQL cluster in $PGDATA"
  mkdir -p "$PG_DIR"
  local pw pwfile
  pw="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"  # 128 random bits, in hex
  umask 077
  printf '%s:*:*:%s:%s\n' "$HOST" "$DB_USER" "$pw" > "$DIR/pgpass"
  pwfile="$PG_DIR/initdb.pw"
  printf '%s\n' "$pw" > "$pwfile"
  umask 022
  if [[ "$(id -u)" == 0 ]]; then chown -R postgres: "$PG_DIR"; fi
  # password (scram) over TCP, peer on the socket; the socket itself is switched off at start
  as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$DB_USER" --pwfile="$pwfile" -A scram-sha-256 \
    --auth-local=peer -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 \
    || { rm -f "$pwfile"; die "initdb failed; see $PG_DIR/initdb.log"; }
  rm -f "$pwfile"
}

start_postgres() {
  local pid
  pid="$(recorded postgres)"
  if [[ -n "$pid" ]]; then say "PostgreSQL already runs (PID $pid)"; return; fi
  init_postgres
  # loopback only, no Unix socket (nothing written outside $DIR)
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_DIR/server.log" -w -t "$TIMEOUT" \
    -o "-c listen_addresses=$HOST -p $PG_PORT -c unix_socket_directories=''" start >/dev/null \
    || die "PostgreSQL did not start; see $PG_DIR/server.log"
  head -n 1 "$PGDATA/postmaster.pid" > "$DIR/postgres.pid"
  STARTED="$STARTED postgres"
  say "PostgreSQL on $HOST:$PG_PORT (PID $(cat "$DIR/postgres.pid"))"
  if [[ -z "$(psql_q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]]; then
    psql_q -d postgres -c "CREATE DATABASE $DB" >/dev/null
    say "created database '$DB'"
  fi
}

http_ok() {  # GET http://127.0.0.1:$1/health answers 200?
  local line
  { exec 3<>"/dev/tcp/$HOST/$1"; } 2>/dev/null || return 1
  printf 'GET /health HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$HOST" "$1" >&3
  IFS= read -r -t 5 line <&3 || true
  exec 3<&- 3>&-
  [[ "$line" == *" 200"* ]]
}

start_mlflow() {
  local running
  running="$(recorded mlflow)"
  if [[ -n "$running" ]]; then say "MLflow server already runs (PID $running)"; return; fi
  mkdir -p "$DIR/artifacts"
  # the driver is named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, not psycopg2.
  # setsid: the server and its uvicorn workers form one process group whose id is the PID we
  # record, so `stop` ends all of them and nothing else
  # MLFLOW_SERVER_ENABLE_JOB_EXECUTION: MLflow's GenAI job runner (8 huey consumer processes)
  # is of no use to nnfs and costs memory and CPU; set it to true in the environment to keep it
  PGPASSFILE="$DIR/pgpass" \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}" \
    setsid "$MLFLOW" server \
    --backend-store-uri "postgresql+psycopg2://$DB_USER@$HOST:$PG_PORT/$DB" \
    --artifacts-destination "$DIR/artifacts" \
    --host "$HOST" --port "$MLFLOW_PORT" --workers 1 \
    >"$DIR/mlflow.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$DIR/mlflow.pid"
  STARTED="$STARTED mlflow"
  local t0=$SECONDS
  until http_ok "$MLFLOW_PORT"; do
    if ! alive "$pid"; then
      tail -n 20 "$DIR/mlflow.log" >&2 || true
      die "the MLflow server exited during start; see $DIR/mlflow.log"
    fi
    if (( SECONDS - t0 > TIMEOUT )); then
      die "the MLflow server did not answer within ${TIMEOUT} s; see $DIR/mlflow.log"
    fi
    sleep 1
  done
  say "MLflow server on http://$HOST:$MLFLOW_PORT (PID $pid, ready in $(( SECONDS - t0 )) s)"
}

on_start_exit() {
  [[ "$1" == 0 ]] && return
  if [[ -n "$STARTED" ]]; then
    say "start failed: stopping what it started:$STARTED"
    # shellcheck disable=SC2086
    stop_all $STARTED || true
  fi
}

start() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"  # the postgres user must reach postgres/ inside it
  find_pg_bin
  find_mlflow
  if [[ -f "$DIR/server.env" && -n "$(recorded postgres)$(recorded mlflow)" ]]; then
    # a running server keeps its ports
    # shellcheck disable=SC1091
    source "$DIR/server.env"
  fi
  # both ports are checked before anything starts
  [[ -n "$(recorded postgres)" ]] || check_port NNFS_PG_PORT "$PG_PORT"
  [[ -n "$(recorded mlflow)" ]] || check_port NNFS_MLFLOW_PORT "$MLFLOW_PORT"
  [[ "$PG_PORT" != "$MLFLOW_PORT" ]] \
    || die "NNFS_PG_PORT=$PG_PORT equals NNFS_MLFLOW_PORT; allowed: two different ports"
  printf 'MLFLOW_PORT=%s\nPG_PORT=%s\n' "$MLFLOW_PORT" "$PG_PORT" > "$DIR/server.env"
  # a failed start stops what it started (and only that)
  STARTED=""
  trap 'on_start_exit $?' EXIT
  start_postgres
  start_mlflow
  trap - EXIT
  echo "http://$HOST:$MLFLOW_PORT" > "$DIR/uri"
  say "data in $DIR (database: postgres/data, artifacts: artifacts/)"
  if [[ "$MLFLOW_PORT" == 5050 ]]; then
    say "use it:  nnfs-train -m ... tracking=server   (its default URI is this server)"
  else
    say "use it:  export MLFLOW_TRACKING_URI=http://$HOST:$MLFLOW_PORT; nnfs-train -m ... tracking=server"
  fi
  say "stop it: make server-stop"
  echo "http://$HOST:$MLFLOW_PORT"
}

wait_gone() {  # $1 test command, $2 what; waits up to 30 s
  local i
  for ((i = 0; i < 300; i++)); do
    if ! eval "$1"; then return 0; fi
    sleep 0.1
  done
  return 1
}

stop_all() {  # [mlflow] [postgres]: what to stop (default both)
  local failed=0 pid which="${*:-mlflow postgres}" ports=""
  if [[ -f "$DIR/server.env" ]]; then
    # shellcheck disable=SC1091
    source "$DIR/server.env"
  fi
  if [[ "$which" == *mlflow* && -f "$DIR/mlflow.pid" ]]; then
    pid="$(recorded mlflow)"
    if [[ -n "$pid" ]]; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      if ! wait_gone "group_alive $pid"; then
        say "MLflow server (process group $pid) ignored SIGTERM for 30 s: SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
        wait_gone "group_alive $pid" || { say "process group $pid is still alive"; failed=1; }
      fi
      say "MLflow server stopped (PID $pid)"
      ports="$MLFLOW_PORT"
    else
      say "no MLflow server of ours runs (stale $DIR/mlflow.pid removed)"
    fi
    rm -f "$DIR/mlflow.pid" "$DIR/uri"
  fi
  if [[ "$which" == *postgres* && -f "$DIR/postgres.pid" ]]; then
    pid="$(recorded postgres)"
    if [[ -n "$pid" ]]; then
      find_pg_bin
      as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 \
        || kill -TERM "$pid" 2>/dev/null || true
      if ! wait_gone "alive $pid"; then
        say "PostgreSQL (PID $pid) still runs after 30 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "alive $pid" || { say "PID $pid is still alive"; failed=1; }
      fi
      say "PostgreSQL stopped (PID $pid)"
      ports="$ports $PG_PORT"
    else
      say "no PostgreSQL of ours runs (stale $DIR/postgres.pid removed)"
    fi
    rm -f "$DIR/postgres.pid"
  fi
  local port
  for port in $ports; do  # what we stopped must have let go of its port
    if ! wait_gone "port_open $port"; then say "port $HOST:$port is still open"; failed=1; fi
  done
  return "$failed"
}

status() {
  [[ -f "$DIR/server.env" ]] && source "$DIR/server.env"
  local up=0
  local pid
  pid="$(recorded postgres)"
  if [[ -n "$pid" ]]; then echo "PostgreSQL: running, PID $pid, $HOST:$PG_PORT"; up=1
  else echo "PostgreSQL: stopped"; fi
  pid="$(recorded mlflow)"
  if [[ -n "$pid" ]]; then echo "MLflow server: running, PID $pid, http://$HOST:$MLFLOW_PORT"; up=1
  else echo "MLflow server: stopped"; fi
  echo "data: $DIR"
  [[ "$up" == 1 ]]
}

case "${1:-}" in
  start) start ;;
  stop) stop_all && say "stopped; data kept in $DIR" ;;
  status) status ;;
  *) die "unknown command '${1:-}'; allowed: start, stop, status" ;;
esac
