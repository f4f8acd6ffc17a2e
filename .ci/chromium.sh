#!/usr/bin/env bash
# Headless Chromium for the transcript viewer's browser tests (tests/rlenvs/test_view.py), called
# by .ci/install. CI runs as root on Debian. Installed only when missing; a failure is a warning
# that names the real cause (apt's own error: a dpkg lock held by another apt, no root, no
# network), never a guess.
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  exit 0
fi
log=$( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) 2>&1 )
if [ $? -eq 0 ]; then
  exit 0
fi
errors=$(printf '%s\n' "$log" | grep -E '^(E|W):' | tail -n 3)
[ -n "$errors" ] || errors=$(printf '%s\n' "$log" | tail -n 3)
if printf '%s\n' "$log" | grep -qiE 'could not get lock|unable to acquire the dpkg|lock-frontend|is held by process'; then
  cause="another apt/dpkg process holds its lock: wait for it to finish, then rerun .ci/install"
elif [ "$(id -u)" != "0" ] && printf '%s\n' "$log" | grep -qiE 'permission denied|are you root'; then
  cause="not root: run 'sudo apt-get install chromium', then rerun .ci/install"
else
  cause="apt-get failed"
fi
{
  echo "warning: could not install chromium ($cause); tests/rlenvs/test_view.py needs it. apt said:"
  printf '%s\n' "$errors" | sed 's/^/  /'
} >&2
exit 0
