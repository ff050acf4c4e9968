"""The agents of codemill's graph: generator, discriminator, test_writer, executor (and plug-ins)."""
