#!/usr/bin/env bash
# Superseded by `make size` (cross/cross.sh size); kept for existing callers.
exec "$(dirname "$0")/../cross/cross.sh" size "$@"
