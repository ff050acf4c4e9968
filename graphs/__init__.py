"""LangGraph state machines that coordinate codemill's agents."""
