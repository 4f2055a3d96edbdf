#!/bin/bash
# relsign's first start of docassemble's server image, for the role "all" on one machine
# (CONTAINERROLE=all, PostgreSQL and Redis inside, nginx in front of uwsgi): the work that
# docassemble's Docker/initialize.sh does before it starts its services, written as steps that
# `relsign run --services` runs in order (recipes/docassemble.toml, [[image.services]]).
#
# What differs from initialize.sh, on purpose:
#  * The database password is random, made here at first start and kept only in config.yml
#    (initialize.sh's default is the fixed "abc123"); PostgreSQL's cluster keeps its own
#    defaults: peer on the socket, scram-sha-256 on TCP (no "trust").
#  * The secret key is made here at first start (docassemble.base.generate_key, as
#    initialize.sh does), never at build time: the image holds no secret.
#  * Nothing is downloaded or updated (DAUPDATEONSTART=false, DAALLOWUPDATES=false).
#
# Usage: relsign-first-start.sh config|database|web
set -euo pipefail

DA_ROOT="${DA_ROOT:-/usr/share/docassemble}"
DA_PYTHON="${DA_PYTHON:?DA_PYTHON is not set (the Env of the image sets it)}"
CONFIG="${DA_CONFIG_FILE:-${DA_ROOT}/config/config.yml}"

# config.yml from docassemble's config.yml.dist: each {{NAME}} takes the environment's
# value, else initialize.sh's default, else null.
make_config() {
    local secret password
    secret="$("${DA_PYTHON}/bin/python" -m docassemble.base.generate_key)"
    password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    # As initialize.sh: http:// (https:// with USEHTTPS or behind an HTTPS load balancer)
    # and DAHOSTNAME, else localhost.
    if [ -z "${URLROOT:-}" ]; then
        local scheme=http host="${DAHOSTNAME:-none}"
        if [ "${USEHTTPS:-false}" = true ] || [ "${BEHINDHTTPSLOADBALANCER:-false}" = true ]; then
            scheme=https
        fi
        if [ -z "$host" ] || [ "$host" = none ]; then
            host=localhost
        fi
        export URLROOT="${scheme}://${host}"
    fi
    umask 077
    DASECRETKEY="$secret" DBPASSWORD="$password" "${DA_PYTHON}/bin/python" - \
        "${DA_ROOT}/config/config.yml.dist" "${CONFIG}.tmp" <<'EOF'
import os, re, sys
defaults = {
    "DBPREFIX": "postgresql+psycopg2://", "DBNAME": "docassemble", "DBUSER": "docassemble",
    "DBBACKUP": "true", "S3ENABLE": "false", "AZUREENABLE": "false", "DABACKUPDAYS": "14",
    "EC2": "false", "COLLECTSTATISTICS": "false", "KUBERNETES": "false",
    "USECLOUDURLS": "false", "USEMINIO": "false", "USEHTTPS": "false",
    "USELETSENCRYPT": "false", "DAHOSTNAME": "none", "SERVERADMIN": "webmaster@localhost",
    "POSTURLROOT": "/", "BEHINDHTTPSLOADBALANCER": "false", "XSENDFILE": "true",
    "DAEXPOSEWEBSOCKETS": "false", "DAUPDATEONSTART": "true", "DAALLOWUPDATES": "true",
    "DAWEBSERVER": "nginx", "DASTABLEVERSION": "false", "DASQLPING": "false",
    "ENABLEUNOCONV": "true", "DAALLOWCONFIGURATIONEDITING": "true",
    "DAENABLEPLAYGROUND": "true", "DAALLOWLOGVIEWING": "true", "DAROOTOWNED": "false",
    "DADEBUG": "true", "GOTENBERGENABLE": "false", "USENGINXTOSERVEFILES": "true",
}
src, dest = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
def value(m):
    name = m.group(1)
    v = os.environ.get(name, "")
    return v if v != "" else defaults.get(name, "null")
with open(dest, "w", encoding="utf-8") as f:
    f.write(re.sub(r"\{\{([A-Z0-9_]+)\}\}", value, text))
EOF
    chown www-data:www-data "${CONFIG}.tmp"
    chmod 0600 "${CONFIG}.tmp"
    mv "${CONFIG}.tmp" "${CONFIG}"
}

# The database role and database, with config.yml's password (initialize.sh's
# "create role ... with login password", "create database ... owner ... encoding UTF8").
make_database() {
    local user name password
    user="$(read_db user)"; name="$(read_db name)"; password="$(read_db password)"
    if [ -z "$(runuser -u postgres -- psql -h /run/postgresql -tAc "SELECT 1 FROM pg_roles WHERE rolname='${user}'")" ]; then
        runuser -u postgres -- psql -h /run/postgresql -q -v ON_ERROR_STOP=1 \
            -c "create role \"${user}\" with login password '${password}';"
    fi
    if [ -z "$(runuser -u postgres -- psql -h /run/postgresql -tAc "SELECT 1 FROM pg_database WHERE datname='${name}'")" ]; then
        runuser -u postgres -- psql -h /run/postgresql -q -v ON_ERROR_STOP=1 \
            -c "create database \"${name}\" owner \"${user}\" encoding UTF8;"
    fi
}

read_db() {
    "${DA_PYTHON}/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["db"][sys.argv[2]])' "$CONFIG" "$1"
}

# uwsgi's ini and nginx's site from docassemble's .dist files, with initialize.sh's values
# for a server at the root of http://localhost/ on port 80.
make_web() {
    sed -e "s@{{DA_PYTHON}}@${DA_PYTHON}@" -e "s@{{DAWSGIROOT}}@/@" -e "s@{{DA_ROOT}}@${DA_ROOT}@" \
        "${DA_ROOT}/config/docassemble.ini.dist" > "${DA_ROOT}/config/docassemble.ini"
    sed -e "s@{{DAHOSTNAME}}@localhost@" -e "s@{{DALOCATIONREWRITE}}@@" -e "s@{{DAWSGIROOT}}@/@" \
        -e "s@{{DAPOSTURLROOT}}@/@" -e "s@{{DAREALIP}}@@" -e "s@{{DAMAXCONTENTLENGTH}}@16M@" \
        -e "s@{{DAWEBSOCKETSIP}}@127.0.0.1@" -e "s@{{DAWEBSOCKETSPORT}}@5000@" \
        -e "s@{{DALISTENPORT}}@80@" \
        "${DA_ROOT}/config/nginx-http.dist" > /etc/nginx/sites-available/docassemblehttp
    rm -f /etc/nginx/sites-enabled/default
    ln -sf /etc/nginx/sites-available/docassemblehttp /etc/nginx/sites-enabled/docassemblehttp
    install -d -o www-data -g www-data /run/uwsgi /run/nltk /run/docassemble
}

case "${1:-}" in
    config) make_config ;;
    database) make_database ;;
    web) make_web ;;
    *) echo "usage: $0 config|database|web" >&2; exit 2 ;;
esac
