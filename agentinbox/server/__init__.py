"""Network front ends of the engine, each built on the public client only (``pip install 'agentinbox[server]'``)."""
