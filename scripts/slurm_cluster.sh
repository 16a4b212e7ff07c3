#!/usr/bin/env bash
# A single-node Slurm cluster on loopback, everything under DIR: munged with its own key and
# socket, slurmctld and slurmd from a generated slurm.conf on free ports. For the Slurm tests
# and benchmarks, and for trying deploy/slurm/ on one machine. Needs root (slurmd runs tasks as
# the submitting user) and Debian's slurmctld, slurmd, slurm-client and munge.
#
#   scripts/slurm_cluster.sh start DIR   # prints the environment to use it: SLURM_CONF=...
#   scripts/slurm_cluster.sh stop DIR    # stops the daemons it started, by their pid files
#
# Two partitions share the node: `batch` (the default) and `urgent`, whose jobs preempt batch
# jobs (PreemptMode=CANCEL): Slurm sends the preempted job SIGTERM, then SIGKILL after
# GraceTime (GRACE_S, default 30 s) — how a real cluster takes nodes back.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
[[ $# -eq 2 ]] || usage
action=$1
dir=$(realpath -m "$2")

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
  for name in slurmd slurmctld munged; do
    local pidfile=$dir/$name.pid
    [[ -s $pidfile ]] || continue
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

start() {
  for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || {
      echo "slurm_cluster: $tool not found (apt-get install slurmctld slurmd slurm-client munge)" >&2
      exit 3
    }
  done
  [[ $(id -u) -eq 0 ]] || { echo "slurm_cluster: must run as root (slurmd)" >&2; exit 3; }
  # slurmd's step sockets are DIR/spool/<node>/<node>_<job>.<step>: 108 bytes at most.
  if (( ${#dir} > 60 )); then
    echo "slurm_cluster: $dir is too long for Slurm's socket paths (60 characters at most)" >&2
    exit 3
  fi
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/seed" --force

  local host ctld_port slurmd_port
  host=$(hostname -s)
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  cat >"$dir/slurm.conf" <<EOF
ClusterName=moetest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerParameters=sched_interval=1
KillWait=5
MinJobAge=600
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=batch Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=${GRACE_S:-30}
PartitionName=urgent Nodes=$host MaxTime=INFINITE State=UP PriorityTier=10
EOF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
      echo "SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm_cluster: the node did not come up; logs in $dir/log" >&2
  sinfo >&2 || true
  stop
  exit 1
}

case $action in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
