"""Evidence bundles: one ZIP per campaign that an auditor, a court or a
works council verifies alone, with ``verify.py`` and no access to this
application or its database.

- ``records`` — the campaign's records, read as streams (recipients with
  their acknowledgement history, messages with their last event, the audit
  chain from the campaign's first entry to this export's entry);
- ``writer`` — the ZIP, written member by member, each hashed on the way,
  JSON Lines numbered and chained line to line;
- ``keys`` — the Ed25519 signing key (EVIDENCE_SIGNING_KEY or generated
  once under VAR_DIR), its fingerprint, rotation;
- ``timestamping`` — the RFC 3161 client (EVIDENCE_TSA_URL);
- ``building`` — the order of the build (seal, records, chain entry,
  chain, manifest, signature, timestamp);
- ``jobs`` — builds started from the evidence page, run by the worker
  with their progress;
- ``verify.py``, ``README.txt`` — shipped inside every bundle; verify.py
  imports nothing of this project (only ``cryptography`` and
  ``rfc3161-client``, or ``openssl``).
"""
