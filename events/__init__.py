"""Domain events and the outbound webhooks that carry them: an outbox written
in the same transaction as the change, delivered by the workers."""
