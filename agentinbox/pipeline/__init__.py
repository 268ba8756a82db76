"""The engine's flows: inbound (receive and store), outbound (compose, store, deliver) and drafts."""
