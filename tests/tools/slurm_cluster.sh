#!/bin/bash
# A one-node Slurm cluster on loopback, for tests/cli/test_slurm.c: Debian's
# slurm-wlm daemons (slurmctld, slurmd) with a generated slurm.conf and
# munge with a generated key, all under DIR, run in the foreground (-D / -F,
# no systemd) and detached with setsid.
#
#   slurm_cluster.sh start DIR   prints the slurm.conf path (for SLURM_CONF)
#                                once the node is idle; exit 77 with the
#                                reason on one line when Slurm cannot run here
#   slurm_cluster.sh stop DIR    stops the daemons it started (by their pids)
set -u
cmd=${1:-} dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

stop() {
    for d in slurmd slurmctld munged; do
        [ -f "$dir/$d.pid" ] || continue
        pid=$(cat "$dir/$d.pid")
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        rm -f "$dir/$d.pid"
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

for b in munged slurmctld slurmd sbatch squeue scontrol sinfo setsid; do
    if ! command -v "$b" >/dev/null; then
        echo "skip: $b is not installed (apt-get install slurmctld slurmd slurm-client munge)"
        exit 77
    fi
done
# slurmd starts each job as its submitting user, which needs root.
if [ "$(id -u)" != 0 ]; then
    echo "skip: slurmd must run as root to start jobs, and this is uid $(id -u)"
    exit 77
fi

mkdir -p "$dir/state" "$dir/spool" "$dir/log" || exit 1
# munged refuses a socket in a directory that others cannot search.
chmod 711 "$dir"
head -c 1024 /dev/urandom >"$dir/munge.key" && chmod 400 "$dir/munge.key" || exit 1

# Two free TCP ports on loopback (the kernel picks them).
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)

cat >"$dir/slurm.conf" <<EOF
ClusterName=biqatest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pidfile
SlurmdPidFile=$dir/slurmd.pidfile
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Jobs whose afterok dependency failed are cancelled, not left pending.
DependencyParameters=kill_invalid_depend
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=biqa Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF=$dir/slurm.conf
setsid munged -F --key-file="$dir/munge.key" --socket="$dir/munge.sock" \
    --pid-file="$dir/munged.pidfile" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munged.seed" >"$dir/log/munged.out" 2>&1 </dev/null &
echo $! >"$dir/munged.pid"
for _ in $(seq 50); do [ -S "$dir/munge.sock" ] && break; sleep 0.1; done
setsid slurmctld -D -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 </dev/null &
echo $! >"$dir/slurmctld.pid"
setsid slurmd -D -f "$SLURM_CONF" -N localhost >"$dir/log/slurmd.out" 2>&1 </dev/null &
echo $! >"$dir/slurmd.pid"

for _ in $(seq 300); do
    if [ "$(sinfo --noheader --format=%t 2>/dev/null)" = idle ]; then
        echo "$SLURM_CONF"
        exit 0
    fi
    sleep 0.1
done
echo "the Slurm node did not become idle within 30 s; the daemons said:" >&2
tail -n 5 "$dir"/log/*.out "$dir"/log/*.log >&2
stop
exit 1
