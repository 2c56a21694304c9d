"""SCIM 2.0 service provider (RFC 7643 / 7644) for Entra ID and Okta to push
the staff list to, at ``/scim/v2/``.

Why not django-scim2 (checked at 0.23): it maps a SCIM resource onto a model
that carries ``scim_id`` / ``scim_external_id`` columns (our Employee belongs
to the staff list and must not know about SCIM), authenticates through
Django's session user (we need named, hashed, revocable bearer tokens), and
leaves PATCH to each adapter: Entra's ``emails[type eq "work"].value``
paths, enterprise attributes by URN and Okta's path-less PATCH would all
have been ours to write anyway, as would the 24-language and manager rules.
What it would have given us is the filter parser, which is its dependency
scim2-filter-parser: we use that library directly (``filtering``) and keep
the rest, small and specific, here. scim2-models (pydantic) would validate
payloads but rejects what Entra really sends (booleans as "False",
capitalised ops), so payloads are read leniently by hand (``mapping``);
scim2-tester checks the result for conformance in the test suite.

Modules: ``errors`` (the SCIM error format), ``auth`` (bearer tokens, the
failed-attempt limit), ``paths`` (attribute paths of PATCH and of the
configurable country attribute), ``mapping`` (a SCIM User ↔ an employee's
fields), ``filtering`` (``filter=`` → a queryset), ``resources`` (what the
endpoints answer, discovery documents), ``services`` (the writes, audited),
``views`` and ``urls``.
"""
