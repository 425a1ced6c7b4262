"""Explanation methods: one small module per method over the shared helpers in ``common``."""
