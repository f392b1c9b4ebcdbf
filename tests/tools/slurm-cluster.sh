#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests/slurm.rs: Debian's slurmctld, slurmd and
# munge, configured in DIR (nothing under /etc/slurm is touched).
#   slurm-cluster.sh start DIR   writes DIR/slurm.conf, starts munged (unless one runs), slurmctld
#                                and slurmd, and waits until the node is idle
#   slurm-cluster.sh stop DIR    stops the daemons that `start` started
# Clients find the cluster with SLURM_CONF=DIR/slurm.conf.
set -euo pipefail
cmd=$1
dir=$(realpath -m "$2")
host=$(hostname -s)
case "$cmd" in
start)
  mkdir -p "$dir/state" "$dir/spool"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=runner-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then
      su -s /bin/sh munge -c "/usr/sbin/munged" 2>>"$dir/munged.log" || /usr/sbin/munged --force 2>>"$dir/munged.log"
    else
      /usr/sbin/munged --force 2>>"$dir/munged.log"
    fi
    touch "$dir/started-munged"
  fi
  export SLURM_CONF=$dir/slurm.conf
  /usr/sbin/slurmctld -f "$dir/slurm.conf"
  /usr/sbin/slurmd -f "$dir/slurm.conf"
  for _ in $(seq 1 100); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then
      exit 0
    fi
    sleep 0.2
  done
  echo "the Slurm node did not become idle; logs in $dir" >&2
  sinfo >&2 || true
  tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  exit 1
  ;;
stop)
  pids=()
  for file in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    if [ -f "$file" ]; then pids+=("$(cat "$file")"); fi
  done
  if [ -f "$dir/started-munged" ]; then
    pids+=($(pgrep -x munged || true))
    rm -f "$dir/started-munged"
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # wait until they are gone, so that the next cluster can take the ports
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && exit 0
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  ;;
*)
  echo "usage: slurm-cluster.sh start|stop DIR" >&2
  exit 2
  ;;
esac
