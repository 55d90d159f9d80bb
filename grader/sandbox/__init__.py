"""The process boundary, both sides of it.

``client`` (grader side) starts the worker, calls into it with timeouts and a
run deadline, and recovers from hangs and crashes; ``student`` is what a check
sees of the submission through it.  ``worker`` is the other side: the zygote
and its per-call children, the only processes that run student code (as the
sandbox user, with limits).  ``protocol`` is the wire between them: plain
data only, parsed defensively, nothing unpickled.
"""
