"""The client's namespaces (``client.inboxes``, ``client.inboxes.messages``, ``client.pods`` …): thin and async.

Each method checks its arguments, runs one store or pipeline call and returns AgentMail-shaped models.
"""
