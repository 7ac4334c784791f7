"""`assistant serve`: the assistant over the network (HTTP, WebSocket, Wyoming)."""
