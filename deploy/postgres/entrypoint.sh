#!/bin/sh
# The part of the official postgres image's contract Civicflow uses: POSTGRES_USER (the superuser,
# default postgres), POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (one of them, always) and POSTGRES_DB
# (default POSTGRES_USER), read when PGDATA is initialised and never after. Arguments starting with
# "-" are the server's options (`command: ["-c", "max_connections=200"]`); any other command runs as given.
set -eu

if [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

newline='
'
setup_port=5433

fail() {
	echo "civicflow-postgres: $*" >&2
	exit 1
}

# initdb creates PGDATA when missing (a subdirectory of a volume whose root holds lost+found) and
# sets its mode to 700 when it is empty and ours; a directory holding anything else is refused by it.
initialise() {
	user=${POSTGRES_USER:-postgres}
	database=${POSTGRES_DB:-$user}
	password=${POSTGRES_PASSWORD:-}
	password_file=${POSTGRES_PASSWORD_FILE:-}
	# Options we do not implement: refused rather than silently ignored.
	if [ -n "${POSTGRES_HOST_AUTH_METHOD:-}${POSTGRES_INITDB_ARGS:-}${POSTGRES_INITDB_WALDIR:-}" ]; then
		fail "POSTGRES_HOST_AUTH_METHOD, POSTGRES_INITDB_ARGS and POSTGRES_INITDB_WALDIR are not supported"
	fi
	# The name goes into pg_ident.conf between double quotes, one entry a line.
	case $user in
	'' | *'"'* | *"$newline"*) fail "POSTGRES_USER must be a name without double quotes or line breaks" ;;
	esac
	if [ -n "$password" ] && [ -n "$password_file" ]; then
		fail "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, not both"
	fi
	# No password means no way in over the network but trust, which this image never configures.
	if [ -z "$password" ] && [ -z "$password_file" ]; then
		fail "set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE: the superuser needs a password"
	fi
	if [ -n "$password_file" ] && ! { [ -r "$password_file" ] && [ -s "$password_file" ]; }; then
		fail "POSTGRES_PASSWORD_FILE $password_file is missing, unreadable or empty"
	fi

	# initdb reads the first line of the password file; the password itself never touches the disk.
	set -- initdb --pgdata="$PGDATA" --username="$user" --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=peer --auth-host=scram-sha-256
	if [ -n "$password_file" ]; then
		"$@" --pwfile="$password_file"
	else
		printf '%s\n' "$password" | "$@" --pwfile=/dev/stdin
	fi

	# Inside the container, the image's own user (pg_isready, `exec psql`) is the superuser over the
	# socket; everything else comes over the network with a password.
	os_user=$(id -un)
	printf '%s\n' \
		'local all all peer map=container' \
		'host all all all scram-sha-256' >"$PGDATA/pg_hba.conf"
	printf 'container "%s" "%s"\n' "$os_user" "$user" >>"$PGDATA/pg_ident.conf"
	printf '%s\n' "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

	# initdb makes the database "postgres"; any other is made on a server listening on the socket alone,
	# and on another port's, so that pg_isready (the healthcheck) does not call it ready before it is.
	if [ "$database" != postgres ]; then
		pg_ctl --pgdata="$PGDATA" --wait --silent --options="-c listen_addresses='' -c port=$setup_port" start
		# psql quotes the name (:"database"), whatever it holds.
		printf '%s\n' 'CREATE DATABASE :"database";' |
			psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --port="$setup_port" --username="$user" \
				--dbname=postgres --set=database="$database"
		pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
	fi
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	initialise
fi
# The password was for initdb alone; the server and its children need not see it.
unset POSTGRES_PASSWORD
exec "$@"
