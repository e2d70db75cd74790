"""Thin Qt adapters: dialogs that show core results; no method logic here."""
