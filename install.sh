#!/usr/bin/env bash
# install.sh: install eXtremail as a system service.
#
# Run ./install.sh --help for the options. Installs:
#   /usr/local/sbin/extremail               the compiled binary dist/extremail (deno task compile),
#                                           or a launcher running the sources in
#   /usr/local/lib/extremail/               main.ts, deno.json, deno.lock, src/, bin/deno (Deno
#                                           itself) and deno-dir/ (the cached dependencies)
#   /etc/extremail/extremail.toml           never overwritten; a newer shipped copy goes to .toml.new
#   /etc/systemd/system/extremail.service   when systemd runs (or with --prefix)
#   /etc/init.d/extremail                   SysV init script, always
#   DirBase (/var/spool/extremail, 0750) and /var/log/extremail, owned by the user extremail
# With --prefix DIR everything goes below DIR, including the DirBase and LogFile written into
# the installed configuration, and the init script's pid file (DIR/run/extremail.pid).
# Every step is idempotent: a second run reports "unchanged" and touches nothing it need not.
set -euo pipefail

umask 022

readonly DENO_VERSION=2.9.6
readonly DEFAULT_DIRBASE=/var/spool/extremail
readonly SERVICE_USER=extremail
readonly SERVICE_GROUP=extremail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<EOF
Usage: ./install.sh [OPTIONS]

Install eXtremail as a system service (run as root for a live install).

Options:
  --prefix DIR   staged install: every file goes below DIR and every path written into the
                 installed launcher, init script and unit points into DIR. No user or group
                 is created, no ownership is changed and systemctl is not called.
  --dry-run      print every action that would be taken; change nothing
  --build        run "deno task compile" first and install the resulting dist/extremail
  --launcher     install the Deno launcher even when dist/extremail exists
  --no-deno-cache
                 launcher installs: do not pre-fetch the dependencies into
                 /usr/local/lib/extremail/deno-dir; the launcher then uses Deno's default
                 cache of whoever runs it (still never downloading at start)
  -h, --help     show this help and exit

Without --build, dist/extremail is installed when it exists (build it with
"deno task compile"); otherwise /usr/local/sbin/extremail becomes a small launcher that
runs the TypeScript sources with Deno ${DENO_VERSION}, installed as
/usr/local/lib/extremail/bin/deno (copied from a deno ${DENO_VERSION} on PATH or
EXTREMAIL_DENO, else fetched with npm from the npm registry), and the dependencies cached
in /usr/local/lib/extremail/deno-dir: the service never downloads anything when it starts.
EOF
}

die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}

PREFIX=""
DRY_RUN=0
BUILD=0
FORCE_LAUNCHER=0
DENO_CACHE=1
while [[ $# -gt 0 ]]; do
	case "$1" in
		--prefix)
			[[ $# -ge 2 && -n "$2" ]] || die "--prefix needs a directory"
			PREFIX=$2
			shift 2
			;;
		--prefix=*)
			PREFIX=${1#--prefix=}
			[[ -n "$PREFIX" ]] || die "--prefix needs a directory"
			shift
			;;
		--dry-run | -n)
			DRY_RUN=1
			shift
			;;
		--build)
			BUILD=1
			shift
			;;
		--launcher)
			FORCE_LAUNCHER=1
			shift
			;;
		--no-deno-cache)
			DENO_CACHE=0
			shift
			;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			usage >&2
			die "unknown argument: $1"
			;;
	esac
done

STAGED=0
if [[ -n "$PREFIX" ]]; then
	STAGED=1
	[[ "$PREFIX" == /* ]] || PREFIX="$PWD/$PREFIX"
	# Normalise: no trailing slashes; "/" means a live install.
	while [[ "$PREFIX" == */ ]]; do PREFIX=${PREFIX%/}; done
	[[ -n "$PREFIX" ]] || STAGED=0
	[[ "$PREFIX" != *"'"* ]] || die "--prefix must not contain a single quote"
fi

IS_ROOT=0
[[ "$(id -u)" == 0 ]] && IS_ROOT=1
if ((!STAGED && !IS_ROOT && !DRY_RUN)); then
	die "a live install needs root (try sudo), or use --prefix DIR for a staged install"
fi

# Final locations (P_*: as seen by the installed system, i.e. including PREFIX).
P_SBIN=$PREFIX/usr/local/sbin/extremail
P_LIB=$PREFIX/usr/local/lib/extremail
P_ETC=$PREFIX/etc/extremail
P_CONF=$P_ETC/extremail.toml
P_LOGDIR=$PREFIX/var/log/extremail
P_UNIT=$PREFIX/etc/systemd/system/extremail.service
P_INITD=$PREFIX/etc/init.d/extremail
P_DEFAULT=$PREFIX/etc/default/extremail
P_RUN=$PREFIX/run

TMPD=$(mktemp -d "${TMPDIR:-/tmp}/extremail-install.XXXXXX")
trap 'rm -rf "$TMPD"' EXIT

SUMMARY=()
WARNINGS=()
CHANGED=0

# ---------------------------------------------------------------------------- helpers

# Record one line of the final summary.
report() {
	local status=$1
	shift
	case "$status" in
		unchanged | skipped | kept | ok) ;;
		*)
			CHANGED=1
			if ((DRY_RUN)); then
				case "$status" in
					installed) status="would install" ;;
					updated) status="would update" ;;
					created) status="would create" ;;
					removed) status="would remove" ;;
					fixed | "mode fixed") status="would fix" ;;
					ran) status="would run" ;;
					cached) status="would cache" ;;
					*) status="would: $status" ;;
				esac
			fi
			;;
	esac
	SUMMARY+=("$(printf '  %-18s %s' "$status" "$*")")
}

warn() {
	WARNINGS+=("$*")
	printf 'warning: %s\n' "$*" >&2
}

# Run a command that changes the system, or only print it with --dry-run.
act() {
	if ((DRY_RUN)); then
		local q
		q=$(printf '%q ' "$@")
		printf '[dry-run] %s\n' "${q% }"
		return 0
	fi
	"$@"
}

# Octal permission bits of a path, e.g. 750.
mode_of() {
	stat -c %a "$1" 2>/dev/null || stat -f %Lp "$1"
}

owner_of() {
	stat -c %U:%G "$1" 2>/dev/null || stat -f %Su:%Sg "$1"
}

norm_mode() {
	printf '%o' "$((8#$1))"
}

have_user() {
	id -u "$SERVICE_USER" >/dev/null 2>&1
}

have_group() {
	if command -v getent >/dev/null 2>&1; then
		getent group "$SERVICE_GROUP" >/dev/null 2>&1
	else
		grep -q "^${SERVICE_GROUP}:" /etc/group 2>/dev/null
	fi
}

# Ownership is only managed on a live install run by root.
manage_owner() {
	((!STAGED && IS_ROOT))
}

# ensure_dir DIR MODE [OWNER:GROUP]
ensure_dir() {
	local dir=$1 mode=$2 owner=${3:-}
	if [[ ! -d "$dir" ]]; then
		act mkdir -p "$dir"
		act chmod "$mode" "$dir"
		[[ -n "$owner" ]] && act chown "$owner" "$dir"
		report created "$dir (mode $mode${owner:+, $owner})"
		return 0
	fi
	local fixed=()
	if [[ "$(mode_of "$dir")" != "$(norm_mode "$mode")" ]]; then
		act chmod "$mode" "$dir"
		fixed+=("mode $mode")
	fi
	if [[ -n "$owner" && "$(owner_of "$dir")" != "$owner" ]]; then
		act chown "$owner" "$dir"
		fixed+=("owner $owner")
	fi
	if ((${#fixed[@]})); then
		report fixed "$dir (${fixed[*]})"
	else
		report unchanged "$dir"
	fi
}

# put_file SRC DEST MODE [LABEL]: install SRC as DEST (atomically) unless identical.
# Sets PUT_STATUS to installed, updated, mode-fixed or unchanged; does not report.
PUT_STATUS=""
put_file() {
	local src=$1 dest=$2 mode=$3 label=${4:-$1}
	if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
		if [[ "$(mode_of "$dest")" != "$(norm_mode "$mode")" ]]; then
			act chmod "$mode" "$dest"
			PUT_STATUS="mode-fixed"
		else
			PUT_STATUS=unchanged
		fi
		return 0
	fi
	if [[ -e "$dest" ]]; then PUT_STATUS=updated; else PUT_STATUS=installed; fi
	if ((DRY_RUN)); then
		act install -m "$mode" "$label" "$dest"
		return 0
	fi
	local dir
	dir=$(dirname "$dest")
	[[ -d "$dir" ]] || mkdir -p "$dir"
	install -m "$mode" "$src" "$dest.tmp.$$"
	mv -f "$dest.tmp.$$" "$dest"
}

# install_file SRC DEST MODE [LABEL]: put_file and report.
install_file() {
	put_file "$@"
	report "${PUT_STATUS/-/ }" "$2"
}

# Rewrite the canonical paths of a shipped file so that they point into PREFIX (and to the
# configured DirBase). Writes the result to stdout.
relocate() {
	local content
	content=$(
		cat "$1"
		printf x
	)
	content=${content%x}
	# Two passes through placeholders so that a replacement is never replaced again; a path
	# that contains another (/var/run/... holds /run/...) comes first.
	local -a from=("$DEFAULT_DIRBASE" /usr/local/sbin/extremail /usr/local/lib/extremail
		/etc/extremail/ /var/log/extremail /etc/default/extremail /var/run/extremail.pid
		/run/extremail.pid "[ -d /run ]")
	local -a to=("$P_DIRBASE" "$P_SBIN" "$P_LIB" "$P_ETC/" "$P_LOGDIR" "$P_DEFAULT"
		"$PREFIX/var/run/extremail.pid" "$P_RUN/extremail.pid" "[ -d $P_RUN ]")
	local i
	for i in "${!from[@]}"; do
		content=${content//"${from[$i]}"/"@@EXTREMAIL_PATH_${i}@@"}
	done
	for i in "${!from[@]}"; do
		content=${content//"@@EXTREMAIL_PATH_${i}@@"/"${to[$i]}"}
	done
	printf '%s' "$content"
}

# First string value of KEY in a TOML file ("" when absent or not a plain string).
toml_string() {
	local file=$1 key=$2 line
	[[ -r "$file" ]] || return 0
	line=$(grep -E "^[[:space:]]*${key}[[:space:]]*=" "$file" | head -n 1 || true)
	[[ -n "$line" ]] || return 0
	line=${line#*=}
	if [[ "$line" =~ ^[[:space:]]*\"([^\"]*)\" ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	elif [[ "$line" =~ ^[[:space:]]*\'([^\']*)\' ]]; then
		printf '%s' "${BASH_REMATCH[1]}"
	fi
}

# A TOML basic string holding $1.
toml_quote() {
	local v=$1
	v=${v//\\/\\\\}
	v=${v//\"/\\\"}
	printf '"%s"' "$v"
}

# The shipped configuration for a staged install (stdout): DirBase and a non-empty LogFile
# moved below PREFIX, so that a daemon started from the staged tree writes nothing outside.
relocate_conf() {
	local line done_dirbase=0 done_logfile=0
	while IFS= read -r line || [[ -n "$line" ]]; do
		if ((!done_dirbase)) && [[ "$line" =~ ^[[:space:]]*DirBase[[:space:]]*= ]]; then
			line="DirBase = $(toml_quote "$P_DIRBASE")"
			done_dirbase=1
		elif ((!done_logfile)) && [[ -n "$LOGFILE" ]] && [[ "$line" =~ ^[[:space:]]*LogFile[[:space:]]*= ]]; then
			line="LogFile = $(toml_quote "$PREFIX$LOGFILE")"
			done_logfile=1
		fi
		printf '%s\n' "$line"
	done <"$1"
}

find_nologin() {
	local p
	for p in /usr/sbin/nologin /sbin/nologin /usr/bin/nologin /bin/false; do
		[[ -x "$p" ]] && {
			printf '%s' "$p"
			return 0
		}
	done
	printf '/bin/false'
}

# Deno for building (deno task compile): "deno" on PATH, else npx.
DENO_CMD=()
DENO_PATH=""
if DENO_PATH=$(command -v deno 2>/dev/null) && [[ "$DENO_PATH" == /* && "$DENO_PATH" != *"'"* ]]; then
	DENO_CMD=("$DENO_PATH")
elif command -v npx >/dev/null 2>&1; then
	DENO_PATH=""
	DENO_CMD=(npx -y "deno@$DENO_VERSION")
else
	DENO_PATH=""
fi

# The Deno a launcher install runs with, installed into the prefix.
P_DENO=$P_LIB/bin/deno

# "2.9.6" for a deno executable, or nothing.
deno_version_of() {
	local out
	out=$("$1" --version 2>/dev/null | head -n 1) || return 0
	out=${out#deno }
	printf '%s' "${out%% *}"
}

# Installs Deno DENO_VERSION as P_DENO: a copy of a deno of that version found here
# (EXTREMAIL_DENO, deno on PATH), else the npm registry's package "deno" (npm install into
# a temporary directory; the binary is copied). Warns, naming what is missing, when neither
# works; the launcher then refuses to start with the same explanation.
install_deno() {
	local src="" cand real
	for cand in "${EXTREMAIL_DENO:-}" "$DENO_PATH"; do
		[[ -n "$cand" && -x "$cand" ]] || continue
		real=$(readlink -f "$cand" 2>/dev/null || printf '%s' "$cand")
		if [[ "$(deno_version_of "$real")" == "$DENO_VERSION" ]]; then
			src=$real
			break
		fi
	done
	if [[ -z "$src" && -x "$P_DENO" && "$(deno_version_of "$P_DENO")" == "$DENO_VERSION" ]]; then
		report unchanged "$P_DENO (Deno $DENO_VERSION)"
		return 0
	fi
	if [[ -z "$src" ]] && command -v npm >/dev/null 2>&1; then
		if ((DRY_RUN)); then
			act npm install --prefix "$TMPD/npm" --no-save --no-audit --no-fund "deno@$DENO_VERSION"
			act install -m 0755 "<deno $DENO_VERSION from npm>" "$P_DENO"
			report installed "$P_DENO (Deno $DENO_VERSION from the npm registry)"
			return 0
		fi
		echo "Fetching Deno $DENO_VERSION from the npm registry ..."
		if npm install --prefix "$TMPD/npm" --no-save --no-audit --no-fund --loglevel=error \
			"deno@$DENO_VERSION" >"$TMPD/npm.log" 2>&1; then
			for cand in "$TMPD"/npm/node_modules/@deno/*/deno "$TMPD/npm/node_modules/deno/deno"; do
				if [[ -x "$cand" && "$(deno_version_of "$cand")" == "$DENO_VERSION" ]]; then
					src=$cand
					break
				fi
			done
		else
			sed 's/^/    /' "$TMPD/npm.log" | tail -n 5 >&2
		fi
	fi
	if [[ -z "$src" ]]; then
		warn "Deno $DENO_VERSION is not installed in $P_DENO: no deno $DENO_VERSION on PATH or in EXTREMAIL_DENO, and npm could not fetch the package deno@$DENO_VERSION; the service cannot start until install.sh runs again with one of them"
		return 0
	fi
	install_file "$src" "$P_DENO" 0755 "deno $DENO_VERSION ($src)"
}

# ---------------------------------------------------------------------------- plan

SYSTEMD=0
[[ -d /run/systemd/system ]] && SYSTEMD=1

if ((DRY_RUN)); then
	echo "Dry run: nothing will be changed."
fi
if ((STAGED)); then
	echo "Staged install into $PREFIX"
else
	echo "Installing eXtremail into /"
fi

[[ -f "$SRC_DIR/conf/extremail.init" ]] || die "missing $SRC_DIR/conf/extremail.init"
[[ -f "$SRC_DIR/conf/extremail.service" ]] || die "missing $SRC_DIR/conf/extremail.service"

# Configuration values that shape the install: DirBase and LogFile, read from the
# configuration in place (the admin's) or else the shipped one.
CONF_SRC=$SRC_DIR/conf/extremail.toml
EFFECTIVE_CONF=$P_CONF
[[ -f "$EFFECTIVE_CONF" ]] || EFFECTIVE_CONF=$CONF_SRC
DIRBASE=$(toml_string "$EFFECTIVE_CONF" DirBase)
# A configuration installed by an earlier staged run already points into PREFIX.
if ((STAGED)) && [[ "$DIRBASE" == "$PREFIX"/* ]]; then
	DIRBASE=${DIRBASE#"$PREFIX"}
elif ((STAGED)) && [[ "$EFFECTIVE_CONF" == "$P_CONF" && "$DIRBASE" == /* ]]; then
	warn "DirBase \"$DIRBASE\" in $P_CONF is outside the prefix $PREFIX; the staged unit and init script use $PREFIX$DIRBASE"
fi
if [[ -z "$DIRBASE" ]]; then
	DIRBASE=$DEFAULT_DIRBASE
elif [[ "$DIRBASE" != /* ]]; then
	warn "DirBase \"$DIRBASE\" in $EFFECTIVE_CONF is not absolute; preparing $DEFAULT_DIRBASE instead"
	DIRBASE=$DEFAULT_DIRBASE
fi
while [[ "$DIRBASE" == */ && "$DIRBASE" != / ]]; do DIRBASE=${DIRBASE%/}; done
P_DIRBASE=$PREFIX$DIRBASE
LOGFILE=$(toml_string "$EFFECTIVE_CONF" LogFile)
if ((STAGED)) && [[ "$LOGFILE" == "$PREFIX"/* ]]; then
	LOGFILE=${LOGFILE#"$PREFIX"}
fi

# ---------------------------------------------------------------------------- 1. program

MODE=launcher
BINARY=$SRC_DIR/dist/extremail
if ((BUILD && !FORCE_LAUNCHER)); then
	if ((${#DENO_CMD[@]})); then
		echo "Building dist/extremail with deno task compile ..."
		if ! (cd "$SRC_DIR" && act "${DENO_CMD[@]}" task compile); then
			warn "deno task compile failed; installing the Deno launcher instead"
		fi
	else
		warn "--build: neither deno nor npx found; installing the Deno launcher instead"
	fi
fi
if ((!FORCE_LAUNCHER)) && [[ -f "$BINARY" && -x "$BINARY" ]]; then
	MODE=binary
elif ((!FORCE_LAUNCHER && BUILD && DRY_RUN)) && ((${#DENO_CMD[@]})); then
	MODE=binary # what the build would have produced
fi

if [[ "$MODE" == binary ]]; then
	if [[ -f "$BINARY" ]]; then
		newer=$(cd "$SRC_DIR" && { find main.ts deno.json src -newer "$BINARY" -type f 2>/dev/null || true; } | head -n 1)
		[[ -z "$newer" ]] || warn "dist/extremail is older than $newer; rebuild with: deno task compile"
	fi
	install_file "$BINARY" "$P_SBIN" 0755 "dist/extremail"
	if [[ -d "$P_LIB" ]]; then
		act rm -rf "$P_LIB"
		report removed "$P_LIB (sources of an earlier launcher install)"
	fi
else
	[[ -f "$SRC_DIR/main.ts" && -f "$SRC_DIR/deno.json" && -d "$SRC_DIR/src" ]] ||
		die "neither dist/extremail nor the sources (main.ts, deno.json, src/) found in $SRC_DIR"

	ensure_dir "$P_LIB" 0755
	for f in main.ts deno.json deno.lock; do
		[[ -f "$SRC_DIR/$f" ]] || continue
		install_file "$SRC_DIR/$f" "$P_LIB/$f" 0644
	done

	# src/: copy new and changed files, delete files that no longer exist in the sources.
	added=0 updated=0 removed=0 total=0
	while IFS= read -r -d '' rel; do
		rel=${rel#./}
		total=$((total + 1))
		put_file "$SRC_DIR/src/$rel" "$P_LIB/src/$rel" 0644
		case "$PUT_STATUS" in
			installed) added=$((added + 1)) ;;
			updated | mode-fixed) updated=$((updated + 1)) ;;
		esac
	done < <(cd "$SRC_DIR/src" && find . -type f -print0 | LC_ALL=C sort -z)
	if [[ -d "$P_LIB/src" ]]; then
		while IFS= read -r -d '' rel; do
			rel=${rel#./}
			if [[ ! -f "$SRC_DIR/src/$rel" ]]; then
				act rm -f "$P_LIB/src/$rel"
				removed=$((removed + 1))
			fi
		done < <(cd "$P_LIB/src" && find . -type f -print0 | LC_ALL=C sort -z)
		if ((removed)) && ((!DRY_RUN)); then
			find "$P_LIB/src" -mindepth 1 -type d -empty -delete
		fi
	fi
	if ((added == total && total > 0 && updated + removed == 0)); then
		report installed "$P_LIB/src/ ($total files)"
	elif ((added + updated + removed)); then
		report updated "$P_LIB/src/ ($total files: $added new, $updated changed, $removed removed)"
	else
		report unchanged "$P_LIB/src/ ($total files)"
	fi

	# Deno itself, next to the sources: the service never looks for it elsewhere and never
	# downloads it when it starts (SPEC §7).
	install_deno

	# The launcher: the installed Deno, the installed dependency cache, --cached-only.
	launcher=$TMPD/launcher
	cat >"$launcher" <<EOF
#!/bin/sh
# eXtremail launcher written by install.sh: runs the TypeScript sources installed in
# $P_LIB with the Deno $DENO_VERSION installed next to them ($P_DENO).
# Nothing is downloaded at start (--cached-only): the dependencies were cached into
# $P_LIB/deno-dir at install time. Build the single binary with "deno task compile" and
# re-run install.sh to replace this script by it.
LIB='$P_LIB'
DENO=\${EXTREMAIL_DENO:-\$LIB/bin/deno}
if [ ! -x "\$DENO" ]; then
	echo "extremail: Deno $DENO_VERSION is missing: \$DENO does not exist or is not executable;" \\
		"re-run install.sh (it installs Deno from the npm registry) or set EXTREMAIL_DENO" >&2
	exit 127
fi
if [ -z "\${DENO_DIR:-}" ]; then
	if [ -d "\$LIB/deno-dir" ]; then
		DENO_DIR="\$LIB/deno-dir"
		export DENO_DIR
	else
		echo "extremail: no dependency cache in \$LIB/deno-dir (installed with --no-deno-cache);" \\
			"using Deno's default cache, and nothing is downloaded: re-run install.sh to fill it" >&2
	fi
fi
DENO_NO_UPDATE_CHECK=1
export DENO_NO_UPDATE_CHECK
# A module missing from the cache stops the start with Deno's message naming it.
exec "\$DENO" run --cached-only --allow-all --config "\$LIB/deno.json" "\$LIB/main.ts" "\$@"
EOF
	install_file "$launcher" "$P_SBIN" 0755 "<launcher for $P_LIB/main.ts>"

	# Pre-fetch the npm dependencies with the installed Deno, so that the service user,
	# which cannot write to /usr/local (ProtectSystem=full), never needs to download anything.
	# The check afterwards runs the program with --cached-only, as the service will.
	if ((DENO_CACHE)); then
		if ((DRY_RUN)); then
			act env DENO_DIR="$P_LIB/deno-dir" "$P_DENO" cache --quiet --frozen-lockfile \
				--config "$P_LIB/deno.json" "$P_LIB/main.ts"
			report cached "dependencies into $P_LIB/deno-dir"
		elif [[ ! -x "$P_DENO" ]]; then
			warn "no Deno in $P_DENO to cache the dependencies with; the service cannot start until install.sh runs again with Deno available"
		else
			lockflag=()
			[[ -f "$P_LIB/deno.lock" ]] && lockflag=(--frozen-lockfile)
			if DENO_DIR="$P_LIB/deno-dir" DENO_NO_UPDATE_CHECK=1 "$P_DENO" cache --quiet \
				"${lockflag[@]}" --config "$P_LIB/deno.json" "$P_LIB/main.ts" >"$TMPD/cache.log" 2>&1 &&
				DENO_DIR="$P_LIB/deno-dir" DENO_NO_UPDATE_CHECK=1 "$P_DENO" run --cached-only \
					--allow-all --config "$P_LIB/deno.json" "$P_LIB/main.ts" --version \
					>/dev/null 2>>"$TMPD/cache.log"; then
				chmod -R a+rX "$P_LIB/deno-dir"
				report ok "dependencies cached in $P_LIB/deno-dir"
			else
				sed 's/^/    /' "$TMPD/cache.log" >&2
				warn "could not cache the dependencies into $P_LIB/deno-dir (install.sh needs the npm registry for them); the service cannot start until install.sh runs again"
			fi
		fi
	else
		report skipped "dependency pre-fetch (--no-deno-cache: the launcher uses Deno's default cache of whoever runs it)"
	fi
fi

# ---------------------------------------------------------------------------- 2. user

if ((STAGED)); then
	report skipped "user/group $SERVICE_USER (staged install with --prefix)"
elif ((!IS_ROOT)); then
	report skipped "user/group $SERVICE_USER (not root)"
else
	if have_group; then
		report unchanged "group $SERVICE_GROUP"
	elif command -v groupadd >/dev/null 2>&1; then
		act groupadd --system "$SERVICE_GROUP"
		report created "group $SERVICE_GROUP (system group)"
	elif command -v addgroup >/dev/null 2>&1; then
		act addgroup -S "$SERVICE_GROUP"
		report created "group $SERVICE_GROUP (system group)"
	else
		die "cannot create group $SERVICE_GROUP: no groupadd or addgroup"
	fi
	if have_user; then
		report unchanged "user $SERVICE_USER"
	elif command -v useradd >/dev/null 2>&1; then
		act useradd --system --gid "$SERVICE_GROUP" --home-dir "$DIRBASE" --no-create-home \
			--shell "$(find_nologin)" --comment "eXtremail mail server" "$SERVICE_USER"
		report created "user $SERVICE_USER (system account, home $DIRBASE, no login)"
	elif command -v adduser >/dev/null 2>&1; then
		act adduser -S -D -H -h "$DIRBASE" -s "$(find_nologin)" -G "$SERVICE_GROUP" \
			-g "eXtremail mail server" "$SERVICE_USER"
		report created "user $SERVICE_USER (system account, home $DIRBASE, no login)"
	else
		die "cannot create user $SERVICE_USER: no useradd or adduser"
	fi
fi

OWNER=""
if manage_owner && { have_user || ((DRY_RUN)); }; then
	OWNER=$SERVICE_USER:$SERVICE_GROUP
fi

# ---------------------------------------------------------------------------- 3. configuration

ensure_dir "$P_ETC" 0755
# What this install ships as the configuration: the file itself, or for a staged install
# the file with DirBase (and LogFile) inside the prefix.
CONF_SHIPPED=$CONF_SRC
if ((STAGED)) && [[ -f "$CONF_SRC" ]]; then
	CONF_SHIPPED=$TMPD/extremail.toml
	relocate_conf "$CONF_SRC" >"$CONF_SHIPPED"
fi
if [[ ! -f "$CONF_SRC" ]]; then
	warn "$CONF_SRC not found: no configuration installed"
elif [[ ! -f "$P_CONF" ]]; then
	install_file "$CONF_SHIPPED" "$P_CONF" 0640
	if [[ -n "$OWNER" ]]; then
		act chgrp "$SERVICE_GROUP" "$P_CONF"
	fi
elif cmp -s "$CONF_SHIPPED" "$P_CONF"; then
	report unchanged "$P_CONF"
else
	report kept "$P_CONF (your edited copy, not overwritten)"
	put_file "$CONF_SHIPPED" "$P_CONF.new" 0640
	report "${PUT_STATUS/-/ }" "$P_CONF.new (shipped version: compare with diff -u $P_CONF $P_CONF.new)"
	if [[ "$PUT_STATUS" != unchanged ]]; then
		echo "note: kept your $P_CONF; the shipped configuration was written to $P_CONF.new"
	fi
	if [[ -n "$OWNER" ]]; then
		act chgrp "$SERVICE_GROUP" "$P_CONF.new"
	fi
fi
if [[ -n "$OWNER" && -f "$P_CONF" ]] && ((!DRY_RUN)); then
	conf_mode=$(mode_of "$P_CONF")
	if [[ "$(owner_of "$P_CONF")" != *":$SERVICE_GROUP" ]] && (((${conf_mode: -1} & 4) == 0)); then
		warn "$P_CONF is not readable by the service user $SERVICE_USER (systemd runs the daemon as $SERVICE_USER): chgrp $SERVICE_GROUP $P_CONF; chmod g+r $P_CONF"
	fi
fi

# ---------------------------------------------------------------------------- 4. directories

ensure_dir "$P_DIRBASE" 0750 "$OWNER"
ensure_dir "$P_LOGDIR" 0750 "$OWNER"
# The init script's pid file lives in /run, which a staged tree has to bring along.
if ((STAGED)); then
	ensure_dir "$P_RUN" 0755
fi
# Only the directories themselves are chowned; state left behind by a daemon that ran as
# root (an earlier SysV start, say) would stop the systemd service, which runs as extremail.
if [[ -n "$OWNER" ]] && ((!DRY_RUN)); then
	for d in "$P_DIRBASE" "$P_LOGDIR"; do
		foreign=$({ find "$d" -mindepth 1 ! -user "$SERVICE_USER" -print 2>/dev/null || true; } | head -n 1)
		if [[ -n "$foreign" ]]; then
			warn "$d holds files not owned by $SERVICE_USER (e.g. $foreign); the systemd service runs as $SERVICE_USER: chown -R $OWNER $d"
		fi
	done
fi
if [[ -z "$OWNER" ]]; then
	report skipped "chown $SERVICE_USER:$SERVICE_GROUP of $P_DIRBASE and $P_LOGDIR ($([[ $STAGED == 1 ]] && echo "staged install" || echo "not root"))"
fi

# ---------------------------------------------------------------------------- 5. init

UNIT_CHANGED=0
if ((SYSTEMD || STAGED)); then
	relocate "$SRC_DIR/conf/extremail.service" >"$TMPD/extremail.service"
	put_file "$TMPD/extremail.service" "$P_UNIT" 0644 conf/extremail.service
	report "${PUT_STATUS/-/ }" "$P_UNIT"
	[[ "$PUT_STATUS" == unchanged ]] || UNIT_CHANGED=1
else
	report skipped "systemd unit (systemd is not running on this host)"
fi
relocate "$SRC_DIR/conf/extremail.init" >"$TMPD/extremail.init"
install_file "$TMPD/extremail.init" "$P_INITD" 0755 conf/extremail.init

if ((SYSTEMD && !STAGED && UNIT_CHANGED)); then
	if act systemctl daemon-reload; then
		report ran "systemctl daemon-reload"
	else
		warn "systemctl daemon-reload failed; run it before starting the service"
	fi
fi

# ---------------------------------------------------------------------------- 6. check

VERSION=""
if ((DRY_RUN)); then
	act "$P_SBIN" --version
else
	runner=()
	command -v timeout >/dev/null 2>&1 && runner=(timeout 120)
	if VERSION=$("${runner[@]}" "$P_SBIN" --version 2>"$TMPD/version.err"); then
		VERSION=$(printf '%s' "$VERSION" | head -n 1)
	else
		VERSION=""
		sed 's/^/    /' "$TMPD/version.err" | tail -n 5 >&2
		warn "$P_SBIN --version failed; the installed program does not run yet"
	fi
fi

# Both the systemd unit and the SysV script run the daemon as the service user: it must be
# able to run the installed program (and, for a launcher, its Deno and dependency cache)
# with nothing downloaded.
if ((!STAGED && IS_ROOT && !DRY_RUN)) && [[ -n "$VERSION" ]] && have_user &&
	command -v runuser >/dev/null 2>&1; then
	if ! (cd / && runuser -u "$SERVICE_USER" -- "$P_SBIN" --version) >/dev/null 2>"$TMPD/user.err"; then
		sed 's/^/    /' "$TMPD/user.err" | tail -n 3 >&2
		warn "the service user $SERVICE_USER cannot run $P_SBIN, but the service runs the daemon as $SERVICE_USER"
	fi
fi
if ((!STAGED && !DRY_RUN)) && ! command -v setpriv >/dev/null 2>&1; then
	warn "setpriv (util-linux) is not installed: the SysV init script needs it to start the daemon as $SERVICE_USER"
fi

# ---------------------------------------------------------------------------- summary

echo
if ((DRY_RUN)); then
	echo "Summary (dry run, nothing was changed):"
else
	echo "Summary:"
fi
printf '%s\n' "${SUMMARY[@]}"
if [[ "$MODE" == binary ]]; then
	echo "  program: compiled binary${VERSION:+ (extremail $VERSION)}"
else
	echo "  program: launcher running the sources in $P_LIB with Deno${VERSION:+ (extremail $VERSION)}"
fi
if ((!CHANGED)); then
	echo "  Nothing changed: the installation was already up to date."
fi
if ((${#WARNINGS[@]})); then
	echo
	echo "Warnings:"
	printf '  - %s\n' "${WARNINGS[@]}"
fi

if [[ -n "$LOGFILE" ]]; then
	pw_where="grep 'admin password' $PREFIX$LOGFILE"
	pw_where_sysv=$pw_where
else
	pw_where="journalctl -u extremail | grep 'admin password'"
	pw_where_sysv="grep 'admin password' $P_LOGDIR/daemon.log"
fi

running=0
if ((!STAGED && SYSTEMD && !DRY_RUN)) && systemctl is-active --quiet extremail 2>/dev/null; then
	running=1
fi

cat <<EOF

Next steps:
  1. Edit $P_CONF (HostName, ListenIP, TLSCert/TLSKey, LocalIP, ...)
     and validate it:  $P_SBIN check-conf --conf $P_CONF
  2. Start the service and enable it at boot:
EOF
if ((SYSTEMD || STAGED)); then
	echo "       systemctl enable --now extremail        (systemd; runs as user $SERVICE_USER)"
fi
echo "       $P_INITD start             (SysV; at boot: update-rc.d extremail defaults or chkconfig --add extremail)"
if ((running)); then
	echo "     extremail is running now: systemctl restart extremail   to use what was just installed"
fi
echo "  3. At the first start the daemon creates the admin password from EXTREMAIL_ADMIN_PASSWORD"
if ((SYSTEMD || STAGED)); then
	echo "     (systemctl edit extremail: [Service] Environment=EXTREMAIL_ADMIN_PASSWORD=...; SysV:"
	echo "     export it in $P_DEFAULT) or prints a random one once to the log,"
else
	echo "     (export it in $P_DEFAULT) or prints a random one once to the log,"
fi
echo '     on a line containing "admin password":'
if ((SYSTEMD || STAGED)); then
	echo "       $pw_where"
fi
echo "       $pw_where_sysv   (SysV)"
cat <<EOF
  4. Administer users and domains:  $P_SBIN admin   (telnet port 4501 on 127.0.0.1)
EOF
if [[ "$DIRBASE" != "$DEFAULT_DIRBASE" ]]; then
	echo "  Note: DirBase is $DIRBASE; the installed unit and init script were written for it."
	echo "        Re-run install.sh whenever you move DirBase."
fi
