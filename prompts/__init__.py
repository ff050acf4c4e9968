"""Jinja2 prompt templates, one folder per agent, shipped as package data."""
