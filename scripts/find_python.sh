#!/bin/sh
# Print the path of a working Python interpreter for the name given (python3.13, 3.13, python3, a path),
# or explain on stderr and exit 1. Used by the Makefile (`make test PY=python3.13`).
#
# Order: the name itself if it runs (a pyenv shim whose version is not activated is on PATH but fails,
# so "on PATH" is not enough: the interpreter must answer); then the newest pyenv install of that minor
# version (`pyenv versions --bare`, full path from `pyenv prefix`); then the usual install locations.
set -eu

want=${1:-python3.11}

works() { "$1" -c 'import sys' >/dev/null 2>&1; }

if works "$want"; then
  command -v "$want" 2>/dev/null || printf '%s\n' "$want"
  exit 0
fi

# The minor version asked for: python3.13 -> 3.13, 3.13 -> 3.13.
minor=$(printf '%s\n' "$want" | sed -n 's/^\(.*\/\)\{0,1\}\(python\)\{0,1\}\([0-9][0-9]*\.[0-9][0-9]*\)$/\3/p')
if [ -z "$minor" ]; then
  echo "find_python: '$want' does not run, and is not of the form python3.N or 3.N" >&2
  exit 1
fi

if command -v pyenv >/dev/null 2>&1; then
  # Newest patch release of that minor version among pyenv's installs (not virtualenvs).
  version=$(pyenv versions --bare 2>/dev/null | grep -E "^${minor}\.[0-9]+$" | sort -t. -k3,3n | tail -n 1 || true)
  if [ -n "$version" ]; then
    prefix=$(pyenv prefix "$version" 2>/dev/null || true)
    for candidate in "$prefix/bin/python$minor" "$prefix/bin/python3"; do
      if [ -n "$prefix" ] && works "$candidate"; then
        printf '%s\n' "$candidate"
        exit 0
      fi
    done
  fi
fi

for candidate in "/usr/local/bin/python$minor" "/usr/bin/python$minor" "$HOME/.local/bin/python$minor"; do
  if works "$candidate"; then
    printf '%s\n' "$candidate"
    exit 0
  fi
done

echo "find_python: no working Python $minor: '$want' is not on PATH (or is an inactive pyenv shim)," >&2
echo "  and pyenv has no $minor install. Install one (e.g. 'pyenv install $minor') or pass a full path:" >&2
echo "  make test PY=/path/to/python$minor" >&2
exit 1
