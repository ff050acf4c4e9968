"""Everything agents use that is not itself an agent: LLM client, sandbox, seeds, selection, scores."""
