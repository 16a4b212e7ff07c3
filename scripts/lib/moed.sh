# Sourced by the benchmark scripts (run from the repository root, with $work set).
# Starts moed (extra flags in "$@") with data in $work/data; sets $moed and MOECTL_SERVER.
start_moed() {
  : > "$work/moed.log"
  build/server/moed --data-dir "$work/data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --slots 2 "$@" \
    > "$work/moed.log" 2>&1 &
  moed=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/^moed listening on port \([0-9]*\),.*$/\1/p' "$work/moed.log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  export MOECTL_SERVER=127.0.0.1:$port
}
