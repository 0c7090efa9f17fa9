"""Broken variants of the reference stack: each one anti-pattern, for proving drills fail.

A drill that passes against anything proves nothing. Each variant below is the
reference stack with exactly one mistake teams really make, and the auth-outage drill
must fail on the phase that mistake breaks (run them as ``builtin:broken-<name>``):

================================  ==========================================  ==========
variant                           mistake                                     fails at
================================  ==========================================  ==========
``remote_validation`` (backend)   asks auth about every token (no local       persist
                                  verification, no cache, no breaker)
``ephemeral_keys`` (auth)         generates new signing keys at every start   restore
``ready_needs_auth`` (backend)    readiness depends on auth                   breaker
``no_breaker`` (backend)          login proxy without a breaker, retrying     new_logins
                                  on long timeouts
``deferred_writes`` (backend)     acknowledges writes, asks auth later and    recover
                                  drops them when auth cannot confirm
================================  ==========================================  ==========

They are demonstrations and test targets: never deploy them.
"""

VARIANTS = {
    "remote-validation": ("backend", "authdrill.stack.broken.remote_validation"),
    "ephemeral-keys": ("auth", "authdrill.stack.broken.ephemeral_keys"),
    "ready-needs-auth": ("backend", "authdrill.stack.broken.ready_needs_auth"),
    "no-breaker": ("backend", "authdrill.stack.broken.no_breaker"),
    "deferred-writes": ("backend", "authdrill.stack.broken.deferred_writes"),
}

__all__ = ["VARIANTS"]
