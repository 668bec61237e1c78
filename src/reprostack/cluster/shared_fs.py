"""Is a run folder on a filesystem the cluster's nodes share?

The node writes the record and logs into the run folder the submission made, so the folder
must be the same folder there. A network or parallel filesystem (NFS, Lustre, GPFS, BeeGFS,
CephFS, ...) is taken as shared; a local one (ext4, xfs, tmpfs, ...) only when the partition's
nodes are this machine alone (a single-node cluster, a workstation running Slurm). Sites that
export a local filesystem to their nodes some other way set ``cluster.slurm.shared_check: false``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from reprostack.errors import RunFailedToStart

SHARED_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "gpfs",
        "beegfs",
        "cephfs",
        "ceph",
        "cifs",
        "smb3",
        "smbfs",
        "glusterfs",
        "wekafs",
        "panfs",
        "pvfs2",
        "orangefs",
        "afs",
        "ocfs2",
        "gfs2",
        "9p",
    }
)
# FUSE filesystems that are network filesystems (fuse.<name> in /proc/mounts).
SHARED_FUSE = (
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.ceph",
    "fuse.juicefs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.lustre",
    "fuse.beegfs",
)


def filesystem_type(path: Path, mounts: str | None = None) -> str:
    """The type of the filesystem holding ``path`` (the longest mount point above it)."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text(encoding="utf-8")
        except OSError:
            return "unknown"
    target = os.path.realpath(path)
    best, kind = "", "unknown"
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def is_shared_type(kind: str) -> bool:
    """A filesystem type whose files every node of a cluster can see."""
    return kind in SHARED_TYPES or kind in SHARED_FUSE


def this_host_names() -> set[str]:
    """The names this machine answers to (short and fully qualified)."""
    name = socket.gethostname()
    return {name, name.split(".")[0], socket.getfqdn(), "localhost"}


def require_shared(folder: Path, partition: str | None, nodes: list[str]) -> None:
    """RunFailedToStart saying why, when ``folder`` is local and a node could be another host."""
    kind = filesystem_type(folder)
    if is_shared_type(kind):
        return
    others = sorted(set(nodes) - this_host_names())
    if not others:
        # Every node of the partition is this machine (its local disk is shared), or Slurm
        # knows no such partition: sbatch will say so in its own words.
        return
    where = f"partition {partition}" if partition else "the default partition"
    shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
    assert shown
    raise RunFailedToStart(
        f"the run folder {folder} is on a local filesystem ({kind}), but {where} has other "
        f"nodes ({shown}): the job could not write its record or logs there",
        hint="keep the project on a filesystem the nodes share (NFS, Lustre, GPFS, ...); if "
        f"this {kind} filesystem is shared with the nodes, set cluster.slurm.shared_check: false",
    )
