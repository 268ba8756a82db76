"""Pure email logic: parsing, composing, addresses. Nothing in this package does I/O."""
