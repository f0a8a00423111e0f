"""Writes for tenants, people, roles and policy, sessions and inactivity: a module per concern."""
