"""Provisioning's writes: tokens, settings, people and groups: a module per concern."""
