"""EventBridge-shaped events: the records IVS sends, a durable outbox, and the sinks that deliver them."""
