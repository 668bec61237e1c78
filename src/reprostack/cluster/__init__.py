"""Cluster runs: the same ``repro run`` sent to Slurm (``--slurm``) or Kubernetes (``--k8s``).

Submission writes the run record(s) as ``queued`` and the scheduler's job; on the node,
``python -m reprostack.cluster.node RUN_DIR`` takes the record over and runs the command
through the ordinary local or container run code, so a cluster run has the same files as any
other. ``repro runs`` asks the scheduler about records it has not heard the end of.
"""
