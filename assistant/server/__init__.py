"""Servers over one started pipeline: the conversation hub and HTTP (WebSocket and Wyoming
beside them)."""
