# Sourced by the benchmarks: a free loopback port (never NBD's 10809, which a user's daemon may hold).
# Debian's python3 (stdlib only here): starts in a tenth of the time of a pyenv shim, which matters per sample.
py=python3; [ -x /usr/bin/python3 ] && py=/usr/bin/python3
free_port() {
  local p
  while :; do
    p=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    [ "$p" != 10809 ] && { echo "$p"; return; }
  done
}
