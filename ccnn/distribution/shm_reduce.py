"""The per-step sum of DataParallel's flat buffer through an MPI-3
shared-memory window (issue 16).

On one node Open MPI's Allreduce of a ~1 MB buffer costs far more than the
arithmetic (its path copies the data through the sm BTL's fragments, pipelines
and progresses them); here the ranks of a node add each other's buffers
directly:

* the ranks of a node (comm.Split_type(MPI.COMM_TYPE_SHARED)) allocate one
  window together (MPI.Win.Allocate_shared), each rank a segment of n values:
  the segment IS the rank's buffer (DataParallel's gradients are written
  straight into it);
* reduce(): an MPI Barrier (every rank's buffer is complete), then rank r
  sums its 1/K slice of the K segments in rank order,
  ((s_0 + s_1) + s_2) + ..., and writes the sum into that slice of every
  segment; an MPI Barrier (every slice is done): every rank's buffer holds
  the same sum, bit for bit.  Each wait is an MPI call, so a rank that dies
  or aborts ends the job as it would inside an Allreduce (nothing spins on
  shared memory);
* across nodes (a communicator that spans more than one node) the sum is
  hierarchical: the node's sum as above, then an Allreduce among one leader
  per node (node rank 0) of the leader's buffer, then every other rank of
  the node copies the leader's result after a Barrier.  Every rank still
  gets identical values; the order of the sum across nodes is the leaders'
  Allreduce's.

The window's memory and the MPI windows are freed by close() (collective
over the communicator, as is the constructor).
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

_ALIGN = 64          # bytes: each segment starts on its own cache line


def slice_bounds(n: int, k: int, r: int) -> Tuple[int, int]:
    """The [lo, hi) of rank r's slice of n values among k ranks (contiguous,
    sizes n // k or n // k + 1, the larger first)."""
    q, extra = divmod(n, k)
    lo = r * q + min(r, extra)
    return lo, lo + q + (1 if r < extra else 0)


class ShmReducer:
    """A flat buffer of n values of dtype (float32 / float64) per rank of
    comm whose reduce() replaces it, on every rank, by the sum of all ranks'
    buffers (MPI SUM, in place).

        red = ShmReducer(comm, n, np.float32)
        red.buffer[:] = my_gradients
        red.reduce()                 # red.buffer: the sum over comm's ranks

    node_comm: the ranks that share a window (default
    comm.Split_type(MPI.COMM_TYPE_SHARED): the ranks of this node; it must
    be a sub-communicator of comm whose ranks share memory)."""

    def __init__(self, comm: Any, n: int, dtype: Any, node_comm: Any = None) -> None:
        from mpi4py import MPI
        self._mpi = MPI
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        if int(n) < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n, self.dtype, self.comm = int(n), dt, comm
        self.node = comm.Split_type(MPI.COMM_TYPE_SHARED) if node_comm is None else node_comm
        self._own_node = node_comm is None
        self.k, self.r = int(self.node.Get_size()), int(self.node.Get_rank())
        #: whether comm spans more than this node (then a leaders' Allreduce follows)
        self.hierarchical = bool(comm.allreduce(self.k, op=MPI.MIN) < int(comm.Get_size()) or
                                 comm.allreduce(self.k, op=MPI.MAX) < int(comm.Get_size()))
        self.leaders: Optional[Any] = None
        if self.hierarchical:
            lead = comm.Split(0 if self.r == 0 else MPI.UNDEFINED, int(comm.Get_rank()))
            self.leaders = None if lead == MPI.COMM_NULL else lead
        per = max(-(-self.n * dt.itemsize // _ALIGN) * _ALIGN, _ALIGN)
        self.win = MPI.Win.Allocate_shared(per, dt.itemsize, comm=self.node)
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self.segments: List[np.ndarray] = []
        for q in range(self.k):
            mem: Any = self.win.Shared_query(q)[0]       # an mpi4py buffer
            self.segments.append(np.frombuffer(mem, dtype=dt, count=self.n))
        #: this rank's buffer: its own segment of the window
        self.buffer = self.segments[self.r]
        self.buffer.fill(0)
        lo, hi = slice_bounds(self.n, self.k, self.r)
        self._mine = [s[lo:hi] for s in self.segments]
        self._closed = False

    def _sync(self) -> None:
        """Every rank of the node here, memory ordered around it (MPI calls only)."""
        self.win.Sync()
        self.node.Barrier()
        self.win.Sync()

    def _sum(self) -> None:
        """This rank's slice of every segment <- the slices' sum in rank order."""
        out = self._mine[0]
        for s in self._mine[1:]:            # rank order: ((s0 + s1) + s2) + ...
            np.add(out, s, out=out)
        for s in self._mine[1:]:
            np.copyto(s, out)

    def reduce(self) -> None:
        """buffer <- the sum of every rank's buffer, on every rank (collective)."""
        if self._closed:
            raise ValueError("this ShmReducer is closed")
        if self.k > 1:
            self._sync()
            self._sum()
            self._sync()
        if self.leaders is not None:
            self.leaders.Allreduce(self._mpi.IN_PLACE, self.buffer, op=self._mpi.SUM)
        if self.hierarchical:
            self._sync()
            if self.r:
                np.copyto(self.buffer, self.segments[0])
            self._sync()     # the leader's segment is rewritten by the next step

    def close(self) -> None:
        """Free the window (collective over comm); the buffers are invalid after."""
        if self._closed:
            return
        self._closed = True
        self.segments, self._mine = [], []
        self.buffer = np.zeros(0, dtype=self.dtype)
        self.win.Unlock_all()
        self.win.Free()
        if self.leaders is not None:
            self.leaders.Free()
        if self._own_node:
            self.node.Free()
