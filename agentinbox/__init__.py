"""agentinbox."""
