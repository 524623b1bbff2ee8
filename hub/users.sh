#!/usr/bin/env bash
# Create or remove the hub's local users (as root):
#   hub/users.sh add instructor alice bob     # home folders in /home/<name>
#   hub/users.sh remove alice bob             # removes the users and their homes
set -euo pipefail
action=${1:?usage: hub/users.sh add|remove NAME...}; shift
for name in "$@"; do
  case $action in
    add) id "$name" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$name" ;;
    remove) ! id "$name" >/dev/null 2>&1 || userdel --remove "$name" 2>/dev/null || userdel "$name" ;;
    *) echo "unknown action $action (add or remove)" >&2; exit 2 ;;
  esac
done
