"""Twilio Programmable Messaging provider for notifier."""
