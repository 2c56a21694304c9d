"""The sending pipeline: dispatch due steps, claim, render, send, record.

Plain functions; ``tasks.py`` and ``send_due`` only call them.

The database is the schedule and the ledger. Each Delivery row moves
queued → sending (claimed by one worker) → sent | failed | rejected | skipped,
or back to queued with ``next_attempt_at`` for a retry. Everything the broker
carries (chunks of primary keys) is disposable: a lost, duplicated or
redelivered task changes nothing, because

- a task claims its rows in one transaction (``SELECT … FOR UPDATE SKIP
  LOCKED`` then a conditional ``UPDATE … WHERE status = 'queued'``); a second
  copy of the task finds them claimed and sends nothing;
- ``next_attempt_at`` on a queued row is a lease: when a chunk is enqueued its
  rows get ``now + SEND_ENQUEUE_LEASE`` (a minute; ``claimed_at`` says when
  they were handed over) so the next tick does not enqueue them again. While
  the broker's queue still holds messages the dispatcher renews the leases
  (a long backlog is not enqueued twice); once it is empty, the lease of a
  chunk the broker lost (flushed, restarted without persistence, reserved by
  a worker killed since) runs out and a tick enqueues its rows once more.
  Transient failures reuse the same field for their backoff, so a retry is
  just a row whose time has come: no ETA/countdown task ever waits in the
  broker (with Redis such tasks are redelivered after the visibility timeout,
  celery#2599);
- a live worker renews its claim every third of SEND_CLAIM_TIMEOUT (a
  minute), so the sweeper puts a dead worker's rows stuck in "sending" back
  to queued within the timeout and a tick. Over SMTP each message is
  recorded right after the server accepted it, so a crash re-sends at most
  the one message in flight; an ESP batch is one API call, so there the
  whole call is "in flight";
- a database outage of a few seconds is waited out by the worker (outage.py,
  SEND_DB_OUTAGE_WAIT): the task neither fails (its message would be gone)
  nor forgets a message the server accepted.

ARCHITECTURE.md ("Faults and recovery") gives each fault's recovery time.

The modules, by stage of a message; each imports only those listed before it:

- ``policy``: the SEND_* knobs, retry backoff, which errors are transient;
- ``outage``: riding out a database outage (wait, reconnect, run again);
- ``waves``: a due step's rows, each waiting for its person's window;
- ``dispatch``: the dispatcher's tick: due steps → rows → leased chunks;
- ``render``: each person's message, rendered once per content version
  (and filled per time zone and per person);
- ``claim``: a worker's claim on a chunk's rows, and the rows given back
  unsent (skipped, retried, failed);
- ``each``: one message at a time on one connection, recorded as it goes;
- ``batch``: one ESP API call per chunk, recorded in bulk;
- ``send``: one chunk as a task receives it: claim, re-check, render, send.

Beside them: ``tasks`` (Celery), ``ratelimit`` (EMAIL_RATE_LIMIT across
workers), ``rawmail`` (SMTP bytes from a prototype), ``tracking`` (ESP
webhooks, bad addresses), ``outbox`` (the demo's .eml backend).
"""
